"""
A store's own message templates (`cartback templates …`, `/v1/templates`): Jinja2 sources for
one template name, channel and locale (`*` for any) that replace the built-in words.

A template is checked before it is saved: each part is compiled in Jinja2's sandbox and
rendered against an example cart with every optional part filled (offer, stock, shipping), so
a syntax error, a name the context lacks (see `services._email_context.email_context`) or an
unsafe access is refused with its line, and nothing is saved. An email template's parts are
its subject, preheader, HTML body and text body; an empty part keeps the built-in one. A text
message template is checked for syntax only (its context belongs to the SMS renderer).
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog
from jinja2 import TemplateError, TemplateSyntaxError

from cartback.domain.capture import canonical_locale
from cartback.domain.consent import Channel
from cartback.domain.errors import FieldError, InvalidInput, NotFound
from cartback.domain.ports import MessageTemplate, UnitOfWork
from cartback.domain.stores import Store
from cartback.domain.time import Clock
from cartback.services._email_context import email_context
from cartback.services._formatting import babel_locale, is_known_locale
from cartback.services._samples import sample_request
from cartback.services.message_parts import TemplateOverride
from cartback.services.message_settings import MessageSettings, ShippingRate, message_settings
from cartback.services.rendering import SANDBOX_HTML, SANDBOX_TEXT, template_kind

log = structlog.get_logger(__name__)

#: Template names as flow files write them.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_./-]{0,99}")
MAX_LINE = 500
MAX_SOURCE = 100_000
ANY_LOCALE = "*"
_CHECK_BASE_URL = "https://cartback.invalid"


def set_template(
    *,
    uow: UnitOfWork,
    clock: Clock,
    store_id: str,
    name: str,
    channel: str,
    locale: str,
    text: str,
    subject: str | None = None,
    preheader: str | None = None,
    html: str | None = None,
) -> MessageTemplate:
    """
    Save the store's template for a name, channel and locale, replacing the one it had.

    Raises:
        InvalidInput: a bad name, channel or locale, a part too long, or a part that does not
            compile or render (each error with its part and line); nothing is saved.
        NotFound: no such store.
    """
    kind, tag, errors = _checked_keys(name, channel, locale)
    errors += _checked_sizes(subject=subject, preheader=preheader, html=html, text=text)
    if kind is Channel.SMS and not text.strip():
        errors.append(FieldError(path="text", message="a text message template needs a text"))
    if kind is Channel.EMAIL and not any(p and p.strip() for p in (subject, preheader, html, text)):
        errors.append(FieldError(path="text", message="give at least one part"))
    if errors or kind is None or tag is None:
        raise InvalidInput("invalid template", errors=errors)
    with uow:
        store = _store(uow, store_id)
        now = clock.now()
        parts = {"subject": subject, "preheader": preheader, "html": html, "text": text}
        problems = check_template(store, name=name, channel=kind, parts=parts, now=now)
        if problems:
            raise InvalidInput("the template does not render", errors=problems)
        saved = MessageTemplate(
            store_id=store_id,
            name=name,
            channel=kind,
            locale=tag,
            subject=_blank_none(subject),
            preheader=_blank_none(preheader),
            html=_blank_none(html),
            text=text,
            updated_at=now,
        )
        uow.templates.save(saved)
        uow.commit()
    log.info("templates.saved", store_id=store_id, name=name, channel=kind.value, locale=tag)
    return saved


def list_templates(*, uow: UnitOfWork, store_id: str) -> list[MessageTemplate]:
    """
    The store's own templates by name, channel and locale.

    Raises:
        NotFound: no such store.
    """
    with uow:
        _store(uow, store_id)
        return uow.templates.list_for_store(store_id)


def delete_template(
    *, uow: UnitOfWork, store_id: str, name: str, channel: str, locale: str | None = None
) -> int:
    """
    Delete the store's template for a name and channel, for one locale or (None) all.

    Returns:
        How many were deleted.

    Raises:
        InvalidInput: a bad channel or locale.
        NotFound: no such store, or no such template.
    """
    kind, tag, errors = _checked_keys(name, channel, locale or ANY_LOCALE)
    if errors or kind is None:
        raise InvalidInput("invalid template", errors=errors)
    with uow:
        _store(uow, store_id)
        deleted = uow.templates.delete(store_id, name, kind, tag if locale else None)
        if not deleted:
            raise NotFound(f"no {kind.value} template {name!r} for locale {locale or 'any'}")
        uow.commit()
    log.info("templates.deleted", store_id=store_id, name=name, channel=kind.value, count=deleted)
    return deleted


def overrides_for(
    uow: UnitOfWork, store_id: str, name: str, channel: Channel
) -> tuple[TemplateOverride, ...]:
    """
    The store's templates for one name and channel (every locale), read in the caller's open
    unit of work, as a `RenderRequest` takes them.
    """
    return tuple(
        TemplateOverride(
            name=t.name,
            channel=t.channel,
            locale=t.locale,
            subject=t.subject,
            preheader=t.preheader,
            html=t.html,
            text=t.text,
        )
        for t in uow.templates.for_name(store_id, name, channel)
    )


def check_template(
    store: Store, *, name: str, channel: Channel, parts: Mapping[str, str | None], now: datetime
) -> list[FieldError]:
    """
    Every problem of a template's parts: compiled in the sandbox and, for email, rendered
    against an example cart in the store's settings. Each message starts with its line.
    """
    errors: list[FieldError] = []
    context = _sample_context(store, name, now) if channel is Channel.EMAIL else None
    for part, source in parts.items():
        if not source:
            continue
        env = SANDBOX_HTML if part == "html" else SANDBOX_TEXT
        try:
            compiled = env.from_string(source)
            if context is not None:
                compiled.render(context)
        except TemplateSyntaxError as error:
            errors.append(FieldError(path=part, message=f"line {error.lineno}: {error.message}"))
        except TemplateError as error:
            errors.append(FieldError(path=part, message=f"line {_line(error)}: {error}"))
    return errors


def _sample_context(store: Store, name: str, now: datetime) -> dict[str, Any]:
    request = sample_request(
        store, template=name, channel=Channel.EMAIL, now=now, base_url=_CHECK_BASE_URL
    )
    settings = _filled(message_settings(store))
    return email_context(
        request,
        kind=template_kind(name),
        settings=settings,
        locale=babel_locale(settings.locale),
    )


def _filled(settings: MessageSettings) -> MessageSettings:
    """
    The store's settings with an example for each one it leaves empty, so a template that
    uses them is checked against values (a store may fill them in later).
    """
    example = ShippingRate(
        country="*", cost=Decimal("4.90"), free_over=Decimal(50), min_days=2, max_days=4
    )
    return replace(
        settings,
        postal_address=settings.postal_address or "1 Example Street\nExample City",
        support_email=settings.support_email or "help@example.com",
        returns_summary=settings.returns_summary or "Free returns within 30 days.",
        returns_url=settings.returns_url or "https://example.com/returns",
        payment_options=settings.payment_options or ("Visa", "PayPal"),
        shipping=settings.shipping or (example,),
        logo_url=settings.logo_url or "https://example.com/logo.png",
    )


def _line(error: BaseException) -> int:
    """
    The template line an error was raised at: Jinja2 rewrites its traceback so the
    template's frames carry the template's own line numbers.
    """
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == "<template>"]
    return frames[-1].lineno or 1 if frames else 1


def _checked_keys(
    name: str, channel: str, locale: str
) -> tuple[Channel | None, str | None, list[FieldError]]:
    errors: list[FieldError] = []
    if not NAME.fullmatch(name):
        message = "letters, digits, '_', '.', '/', '-', up to 100, as in flow files"
        errors.append(FieldError(path="name", message=message))
    try:
        kind: Channel | None = Channel(channel.strip().lower())
    except ValueError:
        kind = None
        errors.append(FieldError(path="channel", message="must be email or sms"))
    tag: str | None = ANY_LOCALE
    if locale.strip() != ANY_LOCALE:
        try:
            tag = canonical_locale(locale.strip())
            if not is_known_locale(tag):
                raise ValueError(f"{tag!r} is not a locale Cartback knows")
        except ValueError as error:
            tag = None
            errors.append(FieldError(path="locale", message=f"{error} (or * for any)"))
    return kind, tag, errors


def _checked_sizes(**parts: str | None) -> list[FieldError]:
    errors = []
    for part, source in parts.items():
        limit = MAX_LINE if part in ("subject", "preheader") else MAX_SOURCE
        if source is not None and len(source) > limit:
            errors.append(FieldError(path=part, message=f"at most {limit} characters"))
    return errors


def _blank_none(value: str | None) -> str | None:
    return value if value and value.strip() else None


def _store(uow: UnitOfWork, store_id: str) -> Store:
    store = uow.stores.get(store_id)
    if store is None:
        raise NotFound(f"no store {store_id!r}")
    return store
