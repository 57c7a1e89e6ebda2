"""
A store's capture settings: which widgets show, whether the SMS and marketing opt-ins are
offered, and the merchant's own wording. Read by the storefront (`GET /v1/capture/config`),
changed by the merchant (`cartback capture configure`, `PUT /v1/capture/settings`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import structlog

from cartback.domain.capture import (
    CAPTURE_SETTING,
    MAX_TEXTS,
    CaptureChange,
    CaptureSettings,
    Widget,
    canonical_locale,
    check_text,
    check_text_key,
)
from cartback.domain.errors import FieldError, InvalidInput, NotFound
from cartback.domain.ports import UnitOfWork
from cartback.domain.stores import Store
from cartback.domain.time import Clock

log = structlog.get_logger(__name__)


def capture_settings(store: Store) -> CaptureSettings:
    """
    The store's capture settings, defaults where the merchant chose nothing.
    """
    return CaptureSettings.from_document(store.settings.get(CAPTURE_SETTING))


def capture_config(store: Store) -> dict[str, Any]:
    """
    What the storefront widgets need, as the JSON document `GET /v1/capture/config` answers:
    the widgets switched on, the consent region, SMS (on, the brand named in its wording,
    double opt-in), whether to offer marketing, the merchant's texts by locale, and the
    store's abandonment delay (when the post-abandonment prompt may show).
    """
    settings = capture_settings(store)
    policy = store.consent_policy
    return {
        "widgets": {w.value: settings.widgets[w] for w in Widget},
        "region": policy.region.value,
        "sms": {
            "enabled": settings.sms_enabled,
            "brand": store.name,
            "double_opt_in": policy.sms_double_opt_in,
        },
        "marketing": settings.marketing,
        "texts": {locale: dict(texts) for locale, texts in sorted(settings.texts.items())},
        # When the post-abandonment prompt may show: once the cart counts as abandoned.
        "abandon_after_seconds": int(store.abandon_after.total_seconds()),
    }


def read_capture_config(*, uow: UnitOfWork, store_id: str) -> dict[str, Any]:
    """
    `capture_config` of a store read now.

    Raises:
        NotFound: no such store.
    """
    with uow:
        store = uow.stores.get(store_id)
    if store is None:
        raise NotFound(f"no store {store_id!r}")
    return capture_config(store)


def capture_change(
    *,
    widgets: Mapping[str, bool] | None = None,
    sms_enabled: bool | None = None,
    marketing: bool | None = None,
    texts: Mapping[tuple[str, str], str | None] | None = None,
) -> CaptureChange:
    """
    A change from names as a merchant writes them: widget names, and texts by (locale, key),
    None for a text meaning "back to the widget's default".

    Raises:
        InvalidInput: with every unknown widget, bad locale, key or text.
    """
    errors: list[FieldError] = []
    checked_widgets: dict[Widget, bool] = {}
    for name, on in (widgets or {}).items():
        if name not in set(Widget):
            message = f"unknown widget; one of {', '.join(w.value for w in Widget)}"
            errors.append(FieldError(path=f"widgets.{name}", message=message))
        else:
            checked_widgets[Widget(name)] = on
    checked_texts: dict[tuple[str, str], str | None] = {}
    for (locale, key), text in (texts or {}).items():
        path = f"texts.{locale}.{key}"
        try:
            where = (canonical_locale(locale), check_text_key(key))
            checked_texts[where] = None if text is None else check_text(text)
        except ValueError as error:
            errors.append(FieldError(path=path, message=str(error)))
    if errors:
        raise InvalidInput("invalid capture settings", errors=errors)
    return CaptureChange(
        widgets=checked_widgets, sms_enabled=sms_enabled, marketing=marketing, texts=checked_texts
    )


def update_capture_settings(
    *, uow: UnitOfWork, clock: Clock, store_id: str, change: CaptureChange
) -> Store:
    """
    Apply a change to a store's capture settings.

    Returns:
        The store as saved.

    Raises:
        NotFound: no such store.
        InvalidInput: more texts than a store may keep.
    """
    with uow:
        store = uow.stores.get(store_id)
        if store is None:
            raise NotFound(f"no store {store_id!r}")
        settings = capture_settings(store).evolve(change)
        if sum(len(texts) for texts in settings.texts.values()) > MAX_TEXTS:
            message = f"a store keeps at most {MAX_TEXTS} texts"
            raise InvalidInput(
                "invalid capture settings", errors=[FieldError(path="texts", message=message)]
            )
        document = {**store.settings, CAPTURE_SETTING: settings.to_document()}
        store = replace(store, settings=document, updated_at=clock.now())
        uow.stores.save(store)
        uow.commit()
    log.info("capture.settings_changed", store_id=store_id)
    return store
