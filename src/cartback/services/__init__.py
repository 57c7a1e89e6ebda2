"""
Use cases. Each takes its dependencies as keyword arguments and owns exactly one transaction.
"""
