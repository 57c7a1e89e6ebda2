"""
Small shared helpers that adapters and services use: ids, normalisation, key digests, sealing.
"""
