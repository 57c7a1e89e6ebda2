"""
Audience exports over HTTP (server key, `contract.md` §5.6): the people an ad network may be
shown now, as a CSV file to upload (Meta Custom Audiences, Google Customer Match), the
merchant's own plain list, or the anonymous visitors alone.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from cartback.api.errors import PROBLEM_RESPONSES
from cartback.api.routes.carts import ServerPrincipal
from cartback.api.state import app_state
from cartback.services.audience_exports import AudienceExport, ExportFormat, export_audience

router = APIRouter(tags=["audiences"], responses=PROBLEM_RESPONSES)

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
#: Rows written per chunk of the response body.
CHUNK_ROWS = 500


@router.get(
    "/v1/audiences/{name}/export",
    summary="Export an audience as CSV",
    response_class=StreamingResponse,
    responses={200: {"content": {CSV_MEDIA_TYPE: {"schema": {"type": "string"}}}}},
)
def export_audience_file(
    name: str,
    principal: ServerPrincipal,
    request: Request,
    export_format: Annotated[ExportFormat, Query(alias="format")],
) -> StreamingResponse:
    """
    The audience's members who may be advertised to now (not opted out of ads, with the
    consent the store's policy needs, not bots, not held by a running flow or its holdout),
    as a CSV attachment. `format`: `meta` (columns `email`, `phone`, SHA-256 of Meta's
    normalisation), `google` (columns `Email`, `Phone`, SHA-256 of the lower-cased email and
    the E.164 phone with `+`), `csv` (`email,phone,entered_at,expires_at,offer_eligible`, in
    plain text) or `anonymous` (`external_id,entered_at,expires_at`: anonymous visitors by the
    SHA-256 of their anonymous id, no personal data). An audience the store does not have
    answers 404.
    """
    state = app_state(request)
    export = export_audience(
        uow=state.container.uow_factory(read_only=True),
        store=principal.store,
        audience=name,
        export_format=export_format,
        now=state.container.clock.now(),
    )
    return StreamingResponse(
        _csv_chunks(export),
        media_type=CSV_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{export.filename}"'},
    )


def _csv_chunks(export: AudienceExport) -> Iterator[bytes]:
    """
    The file in chunks of `CHUNK_ROWS` rows (RFC 4180: CRLF line ends, quoted when needed).
    """
    yield _lines([export.header])
    rows = export.rows
    for start in range(0, len(rows), CHUNK_ROWS):
        yield _lines(rows[start : start + CHUNK_ROWS])


def _lines(rows: Sequence[Sequence[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode("utf-8")
