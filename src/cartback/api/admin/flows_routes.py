"""
The dashboard's flows page (`/admin/stores/{store}/flows`, docs/dashboard.md):

- `GET`: the store's flows as installed (name, version, trigger, steps) and the YAML source
  as applied, or the shipped defaults labelled so; a form to edit that text.
- `POST …/flows/check`: validate the edited text with the parser of `cartback flows apply`
  (every error with its line; nothing changes) and, when it is valid, dry-run it on the
  store's carts of the last 7 days with the simulation of `cartback flows simulate`. A valid
  check hands out a digest of the text (hidden field) and shows the Apply button.
- `POST …/flows/apply`: apply the text, only when it carries the digest of a check of that
  very text in this session; then 303 back to the page with a notice.

Both POSTs carry the session's CSRF token and refuse a foreign Origin, like every dashboard
form; a text over 256 KB is a 413 page; a store the operator may not see is 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from cartback.api.admin._guards import not_found, refused, same_token, signed_in, to_login
from cartback.api.admin._pages import render
from cartback.api.admin._state import admin_state
from cartback.api.routes.ingest import read_body
from cartback.api.state import app_state
from cartback.domain.errors import InvalidInput, NotFound, PayloadTooLarge
from cartback.domain.flows import FlowError, FlowsInvalid
from cartback.domain.simulation_report import OfferCount, SimulationReport
from cartback.services.dashboard_flows import (
    DRY_RUN_DAYS,
    FlowCheck,
    StoreFlows,
    apply_checked_flows,
    check_flows,
    is_checked,
    store_flows,
)
from cartback.services.operator_sessions import CurrentSession

router = APIRouter(prefix="/admin", include_in_schema=False)

#: The largest flow file the page takes (the flow parser's own limit).
MAX_TEXT_BYTES = 256 * 1024
#: A urlencoded form spends up to three bytes per byte of text, plus the short fields.
MAX_FORM_BYTES = 3 * MAX_TEXT_BYTES + 16 * 1024
TOO_LARGE = f"The flow file is larger than {MAX_TEXT_BYTES // 1024} KB. Nothing was changed."
NOT_CHECKED = (
    "This text was not checked, or it changed after its check. Check it again, then apply. "
    "Nothing was changed."
)


@dataclass(frozen=True, kw_only=True, slots=True)
class _Posted:
    """
    A flows form that passed the session, size and CSRF checks.
    """

    current: CurrentSession
    text: str
    digest: str


@router.get("/stores/{store_id}/flows")
def flows_page(request: Request, store_id: str) -> Response:
    """
    The store's flows as installed, their source, and the form to check and apply a file.
    """
    current = signed_in(request)
    if current is None:
        return to_login(request)
    installed = _installed(request, store_id, current)
    if installed is None:
        return not_found(current)
    applied = request.query_params.get("applied", "")
    notice = f"Applied: the store now runs version {applied}." if applied.isdigit() else None
    return _page(current, installed, text=installed.source, notice=notice)


@router.post("/stores/{store_id}/flows/check")
async def check(request: Request, store_id: str) -> Response:
    """
    Validate the posted text and dry-run it on the last 7 days of carts; nothing is written.
    """
    posted = await _posted(request)
    if isinstance(posted, Response):
        return posted
    return await run_in_threadpool(_check, request, store_id, posted)


def _check(request: Request, store_id: str, posted: _Posted) -> Response:
    container = app_state(request).container
    current = posted.current
    installed = _installed(request, store_id, current)
    if installed is None:
        return not_found(current)
    try:
        result = check_flows(
            uow_factory=container.uow_factory,
            clock=container.clock,
            operator=current.operator,
            store_id=installed.store.id,
            text=posted.text,
            secret=current.session.csrf_token,
        )
    except NotFound:
        return not_found(current)
    except FlowsInvalid as error:
        return _page(current, installed, text=posted.text, errors=error.problems, status=400)
    return _page(current, installed, text=posted.text, check=result)


@router.post("/stores/{store_id}/flows/apply")
async def apply(request: Request, store_id: str) -> Response:
    """
    Apply the posted text when it carries the digest of a check of that very text.
    """
    posted = await _posted(request)
    if isinstance(posted, Response):
        return posted
    return await run_in_threadpool(_apply, request, store_id, posted)


def _apply(request: Request, store_id: str, posted: _Posted) -> Response:
    container = app_state(request).container
    current = posted.current
    installed = _installed(request, store_id, current)
    if installed is None:
        return not_found(current)
    checked = is_checked(
        digest=posted.digest,
        secret=current.session.csrf_token,
        store_id=installed.store.id,
        text=posted.text,
    )
    if not checked:
        return _page(current, installed, text=posted.text, refusal=NOT_CHECKED, status=400)
    try:
        listing = apply_checked_flows(
            uow_factory=container.uow_factory,
            clock=container.clock,
            operator=current.operator,
            store_id=installed.store.id,
            text=posted.text,
        )
    except NotFound:
        return not_found(current)
    except FlowsInvalid as error:
        return _page(current, installed, text=posted.text, errors=error.problems, status=400)
    target = f"/admin/stores/{installed.store.id}/flows?applied={listing.version}"
    return RedirectResponse(target, status_code=303)


def _installed(request: Request, store_id: str, current: CurrentSession) -> StoreFlows | None:
    """
    The store's installed flows, or None when the operator may not see it.
    """
    try:
        return store_flows(
            uow_factory=app_state(request).container.uow_factory,
            operator=current.operator,
            store_id=store_id,
        )
    except NotFound:
        return None


async def _posted(request: Request) -> _Posted | Response:
    """
    The posted text and digest, or the response that refuses the request: no session (to
    the sign-in page), too large (413), a foreign origin or a wrong CSRF token (403).
    """
    current = await run_in_threadpool(signed_in, request)
    if current is None:
        return to_login(request)
    try:
        body = await read_body(request, limit=MAX_FORM_BYTES)
    except PayloadTooLarge:
        return _too_large(current)
    except InvalidInput:
        return refused("The form is not valid.")
    form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    refusal = _csrf_refusal(request, current, form)
    if refusal is not None:
        return refused(refusal)
    # Browsers send a textarea's lines ending in CRLF; the file is kept with plain newlines.
    text = form.get("yaml", "").replace("\r\n", "\n")
    if len(text.encode("utf-8")) > MAX_TEXT_BYTES:
        return _too_large(current)
    return _Posted(current=current, text=text, digest=form.get("checked", ""))


def _csrf_refusal(request: Request, current: CurrentSession, form: dict[str, str]) -> str | None:
    """
    Why the form is refused (a foreign origin, not the session's CSRF token), or None.
    """
    if not admin_state(request).same_origin(request):
        return "The request came from another site."
    if not same_token(form.get("csrf_token"), current.session.csrf_token):
        return "The form expired. Reload the page and try again."
    return None


def _too_large(current: CurrentSession) -> Response:
    return render(
        "error.html", status=413, title="Flow file too large", message=TOO_LARGE, current=current
    )


def _page(
    current: CurrentSession,
    installed: StoreFlows,
    *,
    text: str,
    status: int = 200,
    notice: str | None = None,
    refusal: str | None = None,
    errors: list[FlowError] | None = None,
    check: FlowCheck | None = None,
) -> Response:
    return render(
        "flows.html",
        status=status,
        title=f"Flows of {installed.store.name}",
        current=current,
        store=installed.store,
        installed=installed,
        flows=[_flow_row(definition) for definition in installed.flows],
        text=text,
        notice=notice,
        refusal=refusal,
        errors=errors or [],
        check=check,
        dry_run=_dry_run(check.report) if check else None,
        days=DRY_RUN_DAYS,
    )


def _flow_row(definition: Any) -> dict[str, Any]:
    """
    A flow's line in the table: trigger and steps in words (steps counted from 1).
    """
    trigger = definition["trigger"]
    waits = f"after {trigger['inactive_for']} idle" if trigger.get("inactive_for") else ""
    steps = [
        f"{s['wait']} {s['channel']} {s['template']}"
        + (f" + {_offer_words(s['offer']['kind'], s['offer']['value'])}" if s["offer"] else "")
        + (" (if " + s["when"] + ")" if s["when"] else "")
        for s in definition["steps"]
    ]
    return {
        "name": definition["name"],
        "priority": definition["priority"],
        "trigger": " ".join(part for part in ("/".join(trigger["stages"]), waits) if part),
        "audience": definition["audience"] or "every cart",
        "holdout": definition["holdout"],
        "steps": steps,
    }


def _dry_run(report: SimulationReport) -> dict[str, Any]:
    """
    The dry run's tables: steps counted from 1, offers in words, every reason a touch or a
    cart did not go, in one list.
    """
    held: list[tuple[str, str, int]] = [
        ("withheld", f"control group, {row.flow} step {row.step + 1}", row.count)
        for row in report.withheld
    ]
    for outcome, counts in (
        ("skipped", report.skipped),
        ("deferred", report.deferred),
        ("cancelled", report.cancelled),
    ):
        held.extend((outcome, reason, count) for reason, count in counts.items())
    if report.pending:
        held.append(("pending", "not due by the window's end", report.pending))
    return {
        "report": report,
        "offers": [(offer, _offer_text(offer)) for offer in report.offers],
        "held": held,
    }


def _offer_text(offer: OfferCount) -> str:
    return _offer_words(offer.kind, offer.value)


def _offer_words(kind: str, value: Any) -> str:
    """
    `10% off`, `5 off` (store currency), `free shipping`.
    """
    amount = str(value).rstrip("0").rstrip(".") if "." in str(value) else str(value)
    if kind == "percent":
        return f"{amount}% off"
    if kind == "fixed":
        return f"{amount} off"
    return kind.replace("_", " ")
