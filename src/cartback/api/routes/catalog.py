"""
The catalog over HTTP (server key): `PUT /v1/catalog/items` writes what the platform says about
its items, for platforms (or feeds) without product webhooks. Every item is a fresh read.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlsplit

from babel.numbers import list_currencies
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
    ValidationInfo,
    field_validator,
)
from starlette.concurrency import run_in_threadpool

from cartback.api.errors import PROBLEM_RESPONSES
from cartback.api.routes.carts import ServerPrincipal
from cartback.api.routes.ingest import read_body
from cartback.api.state import app_state
from cartback.domain.catalog import (
    MAX_BRAND,
    MAX_CATEGORY,
    MAX_DESCRIPTION,
    MAX_GTIN,
    MAX_ID,
    MAX_ITEMS,
    MAX_MPN,
    MAX_QUANTITY,
    MAX_TITLE,
    MAX_URL,
    CatalogItem,
    is_gtin,
)
from cartback.domain.errors import FieldError, InvalidInput
from cartback.domain.events import MAX_UNIT_PRICE
from cartback.services.catalog import write_items

router = APIRouter(tags=["catalog"], responses=PROBLEM_RESPONSES)

#: 1,000 items of a few hundred bytes each, with room for long titles and for descriptions
#: (up to 5,000 characters each, for the product feeds).
MAX_BODY = 8 * 1024 * 1024


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain U+0000")
    return value


def _currency(value: str) -> str:
    if value not in list_currencies():
        raise ValueError("must be an ISO 4217 currency code in capitals (EUR)")
    return value


def _http_url(value: str) -> str:
    # Shown in messages and pages: only a web link, never `javascript:`, `data:` or a path.
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http or https URL")
    if any(c.isspace() for c in value):
        raise ValueError("must not contain spaces")
    return value


def _gtin(value: str) -> str:
    if not is_gtin(value):
        raise ValueError("must be a GTIN: 8, 12, 13 or 14 digits with a valid check digit")
    return value


Text = Annotated[StrictStr, AfterValidator(_no_nul)]
Id = Annotated[Text, Field(min_length=1, max_length=MAX_ID)] | StrictInt
#: A decimal string (`"19.99"`, exact) or a JSON number; at most 4 decimals.
Amount = Annotated[Decimal, Field(ge=0, le=MAX_UNIT_PRICE, decimal_places=4, allow_inf_nan=False)]
Currency = Annotated[StrictStr, AfterValidator(_currency)]
HttpUrl = Annotated[Text, Field(min_length=1, max_length=MAX_URL), AfterValidator(_http_url)]


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
    price: Amount | None = None
    #: The "was" price of an item on sale.
    compare_at_price: Amount | None = None
    #: What a unit costs the merchant (never shown to shoppers).
    cost: Amount | None = None
    currency: Annotated[Currency | None, Field(validate_default=True)] = None
    category: Annotated[Text, Field(max_length=MAX_CATEGORY)] | None = None
    url: HttpUrl | None = None
    image_url: HttpUrl | None = None
    #: Plain text, as the product's page shows it.
    description: Annotated[Text, Field(min_length=1, max_length=MAX_DESCRIPTION)] | None = None
    brand: Annotated[Text, Field(min_length=1, max_length=MAX_BRAND)] | None = None
    #: A string, so leading zeros survive.
    gtin: Annotated[StrictStr, Field(max_length=MAX_GTIN), AfterValidator(_gtin)] | None = None
    mpn: Annotated[Text, Field(min_length=1, max_length=MAX_MPN)] | None = None

    @field_validator("compare_at_price")
    @classmethod
    def _beside_a_price(cls, value: Decimal | None, info: ValidationInfo) -> Decimal | None:
        # A price that failed its own check is reported there, not again here.
        if value is not None and "price" in info.data and info.data["price"] is None:
            raise ValueError("needs a price (the price the item was cut to)")
        return value

    @field_validator("currency")
    @classmethod
    def _given_with_amounts(cls, value: str | None, info: ValidationInfo) -> str | None:
        amounts = [info.data.get(name) for name in ("price", "compare_at_price", "cost")]
        if value is None and any(amount is not None for amount in amounts):
            raise ValueError("is required with a price, compare_at_price or cost")
        return value


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
    changed the item; older than the stored item's: ignored), and optionally `price`,
    `compare_at_price` (the "was" price of an item on sale), `cost` (decimal strings or numbers,
    at least 0, in `currency`, which any of them requires), `category`, `url` and `image_url`
    (http or https), and for the product feeds `description` (plain text), `brand`, `gtin` (a
    string of 8, 12, 13 or 14 digits with a valid check digit) and `mpn`. An item without
    prices, page or feed details keeps the ones written before; an
    item with a `price` replaces `price` and `compare_at_price` together. An invalid body
    answers 400 with every field error and writes nothing. Writing the same items again
    changes nothing more.
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
        price=given.price,
        compare_at_price=given.compare_at_price,
        cost=given.cost,
        currency=given.currency,
        category=given.category,
        url=given.url,
        image_url=given.image_url,
        description=given.description,
        brand=given.brand,
        gtin=given.gtin,
        mpn=given.mpn,
        read_at=now,
        updated_at=given.updated_at or now,
    )
