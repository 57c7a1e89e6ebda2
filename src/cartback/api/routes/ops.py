"""
Operations: liveness, readiness (database reachable, migrations current) and Prometheus metrics.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import DBAPIError

from cartback.api.errors import PROBLEM_RESPONSES, problem_response
from cartback.api.responses import JsonResponse
from cartback.api.state import app_state
from cartback.domain.errors import DatabaseNotMigrated
from cartback.store.migrate import ensure_migrated

router = APIRouter(tags=["operations"])

#: A worker whose heartbeat is older than this is counted as gone.
HEARTBEAT_STALE = timedelta(seconds=30)


@router.get("/healthz", summary="Liveness")
def healthz() -> dict[str, str]:
    """
    The process is up.
    """
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness", responses={503: PROBLEM_RESPONSES[503]})
def readyz(request: Request) -> JsonResponse:
    """
    The database answers and is at this version's migration.
    """
    engine = app_state(request).container.engine
    try:
        ensure_migrated(engine)
    except DatabaseNotMigrated as error:
        return problem_response(503, "not-migrated", error.detail)
    except DBAPIError:
        return problem_response(503, "unavailable", "the database is unreachable")
    return JsonResponse({"status": "ready"})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """
    Counters of this process, plus queue gauges read from the database at scrape time.
    """
    container = app_state(request).container
    now = container.clock.now()
    try:
        with container.uow_factory(read_only=True) as uow:
            due = uow.carts.due_count(now=now)
            oldest = uow.carts.next_check_at()
            alive = uow.workers.alive(since=now - HEARTBEAT_STALE)
        container.metrics.queue_depth.set(due)
        lag = (now - oldest).total_seconds() if oldest and oldest <= now else 0.0
        container.metrics.oldest_due_seconds.set(lag)
        container.metrics.workers_alive.set(len(alive))
    except DBAPIError:
        pass  # the counters are still worth serving while the database is away
    return Response(generate_latest(container.metrics.registry), media_type=CONTENT_TYPE_LATEST)
