"""
The catalog over HTTP (server key): `PUT /v1/catalog/items` writes what the platform says about
its items, for platforms (or feeds) without product webhooks. Every item is a fresh read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
)
from starlette.concurrency import run_in_threadpool

from cartback.api.errors import PROBLEM_RESPONSES
from cartback.api.routes.carts import ServerPrincipal
from cartback.api.routes.ingest import read_body
from cartback.api.state import app_state
from cartback.domain.catalog import MAX_ID, MAX_ITEMS, MAX_QUANTITY, MAX_TITLE, CatalogItem
from cartback.domain.errors import FieldError, InvalidInput
from cartback.services.catalog import write_items

router = APIRouter(tags=["catalog"], responses=PROBLEM_RESPONSES)

#: 1,000 items of a few hundred bytes each, with room for long titles.
MAX_BODY = 2 * 1024 * 1024


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain U+0000")
    return value


Text = Annotated[StrictStr, AfterValidator(_no_nul)]
Id = Annotated[Text, Field(min_length=1, max_length=MAX_ID)] | StrictInt


class CatalogItemIn(BaseModel):
    """
    One product variant (or a product without variants) as the platform has it now.
    """

    model_config = ConfigDict(extra="forbid")
    product_id: Id
    variant_id: Id | None = None
    sku: Annotated[Text, Field(min_length=1, max_length=MAX_ID)] | None = None
    title: Annotated[Text, Field(max_length=MAX_TITLE)] | None = None
    available: StrictBool
    quantity: Annotated[StrictInt, Field(ge=-MAX_QUANTITY, le=MAX_QUANTITY)] | None = None
    preorder: StrictBool = False
    release_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = None


_ITEMS = TypeAdapter(Annotated[list[CatalogItemIn], Field(max_length=MAX_ITEMS)])


class CatalogWrittenPublic(BaseModel):
    """
    What the write did: items written, items ignored as older than the stored read (`stale`),
    and contacts enrolled in a `back_in_stock` or `launch` flow by the changes.
    """

    written: int
    stale: int
    enrolled: int


_PUT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "array",
                    "maxItems": MAX_ITEMS,
                    "items": CatalogItemIn.model_json_schema(),
                }
            }
        },
    }
}


@router.put(
    "/v1/catalog/items",
    response_model=CatalogWrittenPublic,
    summary="Write catalog items",
    openapi_extra=_PUT_BODY,
)
async def put_catalog_items(principal: ServerPrincipal, request: Request) -> CatalogWrittenPublic:
    """
    Write up to 1,000 items as just read from the platform: `product_id`, `variant_id`, `sku`,
    `title`, `available`, `quantity`, `preorder`, `release_at`, `updated_at` (when the platform
    changed the item; older than the stored item's: ignored). An invalid body answers 400 with
    every field error and writes nothing. Writing the same items again changes nothing more.
    """
    state = app_state(request)
    body = await read_body(request, limit=MAX_BODY)
    now = state.container.clock.now()
    items = [_item(given, now) for given in _parsed(body)]
    written = await run_in_threadpool(
        write_items,
        uow=state.container.uow_factory(),
        clock=state.container.clock,
        store_id=principal.store.id,
        items=items,
    )
    return CatalogWrittenPublic(
        written=written.written, stale=written.stale, enrolled=written.enrolled
    )


def _parsed(body: bytes) -> list[CatalogItemIn]:
    try:
        return _ITEMS.validate_json(body)
    except ValidationError as error:
        errors = [
            FieldError(path=_path(e["loc"]), message=str(e["msg"]).removeprefix("Value error, "))
            for e in error.errors(include_url=False)
        ]
        raise InvalidInput("the catalog items are not valid", errors=errors[:100]) from None


def _path(location: tuple[Any, ...]) -> str:
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part not in ("str", "int", "constrained-str") and not str(part).startswith("function"):
            path += f".{part}" if path else str(part)
    return path


def _item(given: CatalogItemIn, now: datetime) -> CatalogItem:
    return CatalogItem(
        product_id=str(given.product_id),
        variant_id=str(given.variant_id) if given.variant_id is not None else None,
        sku=given.sku,
        title=given.title,
        available=given.available,
        quantity=given.quantity,
        preorder=given.preorder,
        release_at=given.release_at,
        read_at=now,
        updated_at=given.updated_at or now,
    )
