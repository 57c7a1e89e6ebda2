"""
structlog set-up: console rendering for people, JSON lines in production, context bound through
contextvars (request_id, store_id, worker_id).
"""

from __future__ import annotations

import logging
import sys

import structlog


def configure_logging(*, level: str, json_logs: bool) -> None:
    """
    Configure structlog and route the standard library's loggers (uvicorn, alembic) through it.
    """
    numeric_level = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if json_logs
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric_level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "alembic"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # Alembic narrates every connection at INFO; its migrations are reported by the CLI.
    logging.getLogger("alembic").setLevel(max(numeric_level, logging.WARNING))
    # Access lines duplicate our own request log; keep them for debugging only.
    logging.getLogger("uvicorn.access").setLevel(max(numeric_level, logging.WARNING))
