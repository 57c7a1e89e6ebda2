"""
A store's own message templates and message settings over HTTP (server key): the same as
`cartback templates set|list|delete` and `cartback messages configure`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from cartback.api.errors import PROBLEM_RESPONSES
from cartback.api.routes.carts import ServerPrincipal
from cartback.api.state import app_state
from cartback.domain.errors import FieldError, InvalidInput
from cartback.domain.ports import MessageTemplate
from cartback.services.message_settings import (
    MessageSettings,
    read_message_settings,
    update_message_settings,
)
from cartback.services.templates import (
    ANY_LOCALE,
    MAX_LINE,
    MAX_SOURCE,
    delete_template,
    list_templates,
    set_template,
)

router = APIRouter(tags=["messages"], responses=PROBLEM_RESPONSES)

Channel = Annotated[str | None, Query(max_length=10, description="`email` (the default) or `sms`.")]
Locale = Annotated[
    str | None, Query(max_length=35, description="A locale (`de-DE`, `de`) or `*` for any.")
]


class TemplatePublic(BaseModel):
    """
    A store's template for one name, channel and locale (`*`: any): Jinja2 sources.
    """

    name: str
    channel: str
    locale: str
    subject: str | None
    preheader: str | None
    html: str | None
    text: str
    updated_at: datetime


class TemplatesPublic(BaseModel):
    """
    The store's templates by name, channel and locale.
    """

    data: list[TemplatePublic]
    count: int


class TemplateIn(BaseModel):
    """
    A template's parts (channel and locale here or in the query). For email, an empty part
    keeps the built-in one; the footer (address, unsubscribe) is always Cartback's.
    """

    model_config = ConfigDict(extra="forbid")
    channel: StrictStr | None = Field(default=None, max_length=10)
    locale: StrictStr | None = Field(default=None, max_length=35)
    subject: StrictStr | None = Field(default=None, max_length=MAX_LINE)
    preheader: StrictStr | None = Field(default=None, max_length=MAX_LINE)
    html: StrictStr | None = Field(default=None, max_length=MAX_SOURCE)
    text: StrictStr = Field(default="", max_length=MAX_SOURCE)


class ShippingRateModel(BaseModel):
    """
    Shipping to one country (ISO code, or `*` for everywhere else), in the store's currency:
    `cost` (0 for free) and/or `free_over` (free from that cart total), delivery in days.
    """

    model_config = ConfigDict(extra="forbid")
    country: StrictStr
    cost: Decimal | None = None
    free_over: Decimal | None = None
    min_days: StrictInt | None = None
    max_days: StrictInt | None = None


class MessageSettingsPublic(BaseModel):
    """
    What the store's emails say about it.
    """

    locale: str
    postal_address: str | None
    support_email: str | None
    returns_summary: str | None
    returns_url: str | None
    payment_options: list[str]
    shipping: list[ShippingRateModel]
    logo_url: str | None
    brand_color: str | None
    #: How long restore and short links work after the message went (`30d`).
    restore_link_expiry: str


class MessageSettingsIn(BaseModel):
    """
    A change to the message settings: only the fields given change; null restores a default.
    """

    model_config = ConfigDict(extra="forbid")
    locale: StrictStr | None = None
    postal_address: StrictStr | None = None
    support_email: StrictStr | None = None
    returns_summary: StrictStr | None = None
    returns_url: StrictStr | None = None
    payment_options: list[StrictStr] | None = None
    shipping: list[ShippingRateModel] | None = None
    logo_url: StrictStr | None = None
    brand_color: StrictStr | None = None
    restore_link_expiry: StrictStr | None = None


def _template(template: MessageTemplate) -> TemplatePublic:
    return TemplatePublic(
        name=template.name,
        channel=template.channel.value,
        locale=template.locale,
        subject=template.subject,
        preheader=template.preheader,
        html=template.html,
        text=template.text,
        updated_at=template.updated_at,
    )


def _settings(settings: MessageSettings) -> MessageSettingsPublic:
    return MessageSettingsPublic.model_validate(settings.to_json())


def _one(field: str, query: str | None, body: str | None, default: str) -> str:
    if query is not None and body is not None and query != body:
        message = "given in the query and the body, differently"
        raise InvalidInput("invalid template", errors=[FieldError(path=field, message=message)])
    return body if body is not None else query if query is not None else default


@router.get("/v1/templates", response_model=TemplatesPublic, summary="List the store's templates")
def read_templates(principal: ServerPrincipal, request: Request) -> TemplatesPublic:
    """
    The store's own templates (the built-in ones are used where it has none).
    """
    uow = app_state(request).container.uow_factory(read_only=True)
    data = [_template(t) for t in list_templates(uow=uow, store_id=principal.store.id)]
    return TemplatesPublic(data=data, count=len(data))


@router.put("/v1/templates/{name:path}", response_model=TemplatePublic, summary="Set a template")
def put_template(
    name: str,
    body: TemplateIn,
    principal: ServerPrincipal,
    request: Request,
    channel: Channel = None,
    locale: Locale = None,
) -> TemplatePublic:
    """
    Save the store's template for a flow step's template name, a channel and a locale
    (`*`: any; a message takes the exact locale, then its language, then `*`). Each part is
    compiled in Jinja2's sandbox and rendered against an example cart first: a syntax error or
    an unknown name answers 400 with the part and line, and nothing is saved.
    """
    state = app_state(request)
    saved = set_template(
        uow=state.container.uow_factory(),
        clock=state.container.clock,
        store_id=principal.store.id,
        name=name,
        channel=_one("channel", channel, body.channel, "email"),
        locale=_one("locale", locale, body.locale, ANY_LOCALE),
        subject=body.subject,
        preheader=body.preheader,
        html=body.html,
        text=body.text,
    )
    return _template(saved)


@router.delete(
    "/v1/templates/{name:path}",
    status_code=204,
    response_class=Response,
    summary="Delete a template",
)
def remove_template(
    name: str,
    principal: ServerPrincipal,
    request: Request,
    channel: Channel = None,
    locale: Locale = None,
) -> Response:
    """
    Delete the store's template for a name and channel: for one locale, or every locale when
    none is given. The built-in one is used again.
    """
    state = app_state(request)
    delete_template(
        uow=state.container.uow_factory(),
        store_id=principal.store.id,
        name=name,
        channel=channel or "email",
        locale=locale,
    )
    return Response(status_code=204)


@router.get(
    "/v1/settings/messages",
    response_model=MessageSettingsPublic,
    summary="Read the message settings",
)
def read_messages_settings(principal: ServerPrincipal, request: Request) -> MessageSettingsPublic:
    """
    The store's message settings: locale, postal address, support address, returns policy,
    payment options, shipping table, logo and brand colour.
    """
    uow = app_state(request).container.uow_factory(read_only=True)
    return _settings(read_message_settings(uow=uow, store_id=principal.store.id))


@router.put(
    "/v1/settings/messages",
    response_model=MessageSettingsPublic,
    summary="Change the message settings",
)
def put_messages_settings(
    body: MessageSettingsIn, principal: ServerPrincipal, request: Request
) -> MessageSettingsPublic:
    """
    Change some message settings (`{"postal_address": "…", "brand_color": "#0a7c59"}`);
    fields left out keep their value, null restores the default. Every bad field answers 400
    and nothing changes.
    """
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    state = app_state(request)
    settings = update_message_settings(
        uow=state.container.uow_factory(),
        clock=state.container.clock,
        store_id=principal.store.id,
        changes=changes,
    )
    return _settings(settings)
