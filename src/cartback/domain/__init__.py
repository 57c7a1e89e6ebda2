"""
Pure logic: carts, identities, stores and their rules. Standard library only; time is a parameter.
"""
