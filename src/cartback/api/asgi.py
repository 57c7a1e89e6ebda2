"""
App factories for `uvicorn --workers N`, where each HTTP process builds its own container
from the environment.
"""

from __future__ import annotations

from fastapi import FastAPI

from cartback._logging import configure_logging
from cartback.api.app import create_app
from cartback.bootstrap import bootstrap
from cartback.kit.runtime import freeze_startup_objects
from cartback.settings import Settings


def create_app_from_environment() -> FastAPI:
    """
    The API, configured from `CARTBACK_*` variables.
    """
    settings = Settings()
    configure_logging(level=settings.log_level, json_logs=settings.json_logs)
    app = create_app(bootstrap(settings, application_name="cartback-serve"))
    freeze_startup_objects()  # each HTTP process is its own long-running process
    return app


def create_bench_app_from_environment() -> FastAPI:
    """
    The API with the benchmark's no-op baseline route.
    """
    settings = Settings()
    configure_logging(level=settings.log_level, json_logs=settings.json_logs)
    app = create_app(bootstrap(settings, application_name="cartback-serve"), bench_routes=True)
    freeze_startup_objects()
    return app
