"""
The HTTP API (FastAPI): ingestion, read API and operations endpoints.
"""
