"""
Source adapters: verify a platform's payloads and translate them into Cartback's own events.
"""
