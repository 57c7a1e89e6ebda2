"""
The dashboard's settings page (`/admin/stores/{id}/settings`): the store's settings and
peak-season calendar, its attribution windows, the quiet hours its flows set (read-only; they
live in the flow file), and its API keys with rotation.

Every change is a form POST with the session's CSRF token (a foreign origin or a missing
token is a 403 page and changes nothing) made by the same service as the command line
(`services/dashboard_settings.py`); it answers 303 back to the page with a notice, or the page
again with 400 and each field's error, nothing changed. A rotated key is shown once, on the
answer to the POST (`Cache-Control: no-store`), never again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from cartback.api.admin._guards import (
    checked_post,
    not_found,
    signed_in,
    to_login,
)
from cartback.api.admin._pages import render
from cartback.api.state import app_state
from cartback.domain.consent import Region
from cartback.domain.durations import format_duration, parse_duration
from cartback.domain.errors import FieldError, InvalidInput, NotFound
from cartback.domain.reports import AttributionWindows
from cartback.domain.stores import CONSENT_REGION, KeyKind, Store
from cartback.services.api_keys import key_kind
from cartback.services.dashboard_settings import (
    SettingsView,
    change_attribution,
    change_store,
    rotate_store_key,
    settings_view,
)
from cartback.services.operator_sessions import CurrentSession
from cartback.services.stores import StoreSettings

router = APIRouter(prefix="/admin", include_in_schema=False)

#: What the page says after a change (the query names one of these; nothing else is shown).
NOTICES = {
    "store": "Store settings saved.",
    "attribution": "Attribution windows saved.",
}


@router.get("/stores/{store_id}/settings")
def settings_page(request: Request, store_id: str) -> Response:
    """
    A store's settings, attribution windows, quiet hours and API keys.
    """
    current = signed_in(request)
    if current is None:
        return to_login(request)
    try:
        view = _view(request, current, store_id)
    except NotFound:
        return not_found(current)
    notice = NOTICES.get(request.query_params.get("saved", ""))
    return _page(current, view, notice=notice)


@router.post("/stores/{store_id}/settings/store")
async def save_store(request: Request, store_id: str) -> Response:
    """
    Change the store's name, timing, time zone, country, consent region and peak season
    (`update_store`, as `cartback store update`).
    """
    checked = await checked_post(request)
    if isinstance(checked, Response):
        return checked
    current, form = checked
    container = app_state(request).container
    try:
        await run_in_threadpool(
            change_store,
            uow_factory=container.uow_factory,
            clock=container.clock,
            operator=current.operator,
            store_id=store_id,
            settings=store_settings_from_form(form),
        )
    except NotFound:
        return not_found(current)
    except InvalidInput as error:
        return await _invalid(request, current, store_id, error, store_form=form)
    app_state(request).authenticator.forget()  # keys resolve to the changed store at once
    return _back(store_id, "store")


@router.post("/stores/{store_id}/settings/attribution")
async def save_attribution(request: Request, store_id: str) -> Response:
    """
    Change the click and send windows (`configure_attribution`, as `cartback attribution
    configure`); an empty field puts its window back to the default.
    """
    checked = await checked_post(request)
    if isinstance(checked, Response):
        return checked
    current, form = checked
    container = app_state(request).container
    changes = {name: form.get(name, "").strip() or None for name in ATTRIBUTION_FIELDS}
    try:
        await run_in_threadpool(
            change_attribution,
            uow_factory=container.uow_factory,
            clock=container.clock,
            operator=current.operator,
            store_id=store_id,
            changes=changes,
        )
    except NotFound:
        return not_found(current)
    except InvalidInput as error:
        return await _invalid(request, current, store_id, error, attribution_form=form)
    return _back(store_id, "attribution")


@router.post("/stores/{store_id}/settings/keys")
async def rotate(request: Request, store_id: str) -> Response:
    """
    Rotate the secret or the public key (`rotate_key`, as `cartback store rotate-key`): the
    new key is shown on this answer only, the old one stops working at once.
    """
    checked = await checked_post(request)
    if isinstance(checked, Response):
        return checked
    current, form = checked
    container = app_state(request).container
    try:
        kind = key_kind(form.get("kind", ""))
        rotated = await run_in_threadpool(
            rotate_store_key,
            uow_factory=container.uow_factory,
            clock=container.clock,
            operator=current.operator,
            store_id=store_id,
            kind=kind,
        )
    except NotFound:
        return not_found(current)
    except InvalidInput as error:
        return await _invalid(request, current, store_id, error)
    # This process stops accepting the old key now; others within the key cache's lifetime.
    app_state(request).authenticator.forget()
    view = await run_in_threadpool(_view, request, current, store_id)
    return render(
        "settings_key.html",
        title="New API key",
        headers={"Cache-Control": "no-store"},
        current=current,
        store=view.store,
        rotated=rotated,
    )


# --- reading the forms --------------------------------------------------------------------

ATTRIBUTION_FIELDS = ("click_window", "send_window")


def store_settings_from_form(form: Mapping[str, str]) -> StoreSettings:
    """
    The store form as `StoreSettings`: empty country and consent region leave them as they
    are, empty peak days turn peak-season mode off (and its options are then ignored).

    Raises:
        InvalidInput: a duration or number that does not read (each field's error).
    """
    errors: list[FieldError] = []

    def read(name: str, parse: Callable[[str], Any], default: str = "") -> Any:
        text = form.get(name, "").strip() or default
        try:
            return parse(text)
        except ValueError as error:
            errors.append(FieldError(path=name, message=str(error)))
            return None

    periods = form.get("peak_periods", "").strip()
    peak: dict[str, Any] = {"peak_periods": periods}
    if periods:
        peak["peak_delay_factor"] = read("peak_delay_factor", _factor, "1")
        peak["peak_max_touches"] = read("peak_max_touches", _cap, "-1")
        peak["peak_pause_discounts"] = form.get("peak_pause_discounts") == "on"
    settings = StoreSettings(
        name=form.get("name", ""),
        timezone=form.get("timezone", ""),
        country=form.get("country", "").strip() or None,
        consent_region=form.get("consent_region", "").strip() or None,
        abandon_after=read("abandon_after", parse_duration),
        recovery_window=read("recovery_window", parse_duration),
        **peak,
    )
    if errors:
        raise InvalidInput("invalid store settings", errors=errors)
    return settings


def _factor(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError("must be a number from 1 to 10") from None


def _cap(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError("must be a whole number (-1: no cap)") from None


def store_values(store: Store) -> dict[str, str]:
    """
    The store form filled in with the store's current settings.
    """
    season = store.settings.get("peak_season")
    peak = season if isinstance(season, dict) else {}
    periods = ", ".join(f"{first}..{last}" for first, last in peak.get("periods", []))
    cap = peak.get("max_touches")
    explicit = store.settings.get(CONSENT_REGION)
    return {
        "name": store.name,
        "abandon_after": format_duration(store.abandon_after),
        "recovery_window": format_duration(store.recovery_window),
        "timezone": store.timezone,
        "country": store.country or "",
        "consent_region": explicit if isinstance(explicit, str) else "",
        "peak_periods": periods,
        "peak_delay_factor": str(peak.get("delay_factor", 1.0)) if periods else "",
        "peak_max_touches": "" if cap is None else str(cap),
        "peak_pause_discounts": "on" if peak.get("pause_discounts", True) else "",
    }


def attribution_values(windows: AttributionWindows) -> dict[str, str]:
    """
    The attribution form filled in with the store's windows.
    """
    return {
        "click_window": format_duration(windows.click),
        "send_window": format_duration(windows.send),
    }


# --- helpers --------------------------------------------------------------------------------


def _view(request: Request, current: CurrentSession, store_id: str) -> SettingsView:
    return settings_view(
        uow_factory=app_state(request).container.uow_factory,
        operator=current.operator,
        store_id=store_id,
    )


async def _invalid(
    request: Request,
    current: CurrentSession,
    store_id: str,
    error: InvalidInput,
    *,
    store_form: Mapping[str, str] | None = None,
    attribution_form: Mapping[str, str] | None = None,
) -> Response:
    """
    The page again, 400, with the submitted values and each field's error.
    """
    try:
        view = await run_in_threadpool(_view, request, current, store_id)
    except NotFound:
        return not_found(current)
    errors = {e.path: e.message for e in error.errors}
    return _page(
        current,
        view,
        status=400,
        problem=error.detail,
        errors=errors,
        store_form=store_form,
        attribution_form=attribution_form,
    )


def _page(
    current: CurrentSession,
    view: SettingsView,
    *,
    status: int = 200,
    notice: str | None = None,
    problem: str | None = None,
    errors: Mapping[str, str] | None = None,
    store_form: Mapping[str, str] | None = None,
    attribution_form: Mapping[str, str] | None = None,
) -> Response:
    values = {**store_values(view.store), **(store_form or {})}
    if store_form is not None:  # an unticked box is not posted at all
        values["peak_pause_discounts"] = store_form.get("peak_pause_discounts", "")
    return render(
        "settings.html",
        status=status,
        title=f"Settings of {view.store.name}",
        current=current,
        store=view.store,
        view=view,
        notice=notice,
        problem=problem,
        errors=errors or {},
        values=values,
        windows={**attribution_values(view.windows), **(attribution_form or {})},
        regions=[r.value for r in Region],
        effective_region=view.store.consent_policy.region.value,
        kinds=[k.value for k in KeyKind],
        defaults=attribution_values(AttributionWindows()),
    )


def _back(store_id: str, saved: str) -> Response:
    return RedirectResponse(f"/admin/stores/{store_id}/settings?saved={saved}", status_code=303)
