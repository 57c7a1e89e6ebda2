"""
The flows Cartback ships (`defaults.yaml`), used by a store until it applies its own.
"""
