"""
What a restore link brings back, decided from data (`domain.restore`, `services.restore`):
which lines still sell, which code still holds, and the UTM parameters merged into a
platform's URL without rewriting its own query.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from cartback.domain.catalog import CatalogItem
from cartback.domain.consent import Channel
from cartback.domain.discounts import OfferStatus
from cartback.domain.events import LineItem
from cartback.domain.flows import OfferKind
from cartback.domain.ports import OfferRecord, TouchRecord
from cartback.domain.restore import line_title, split_available, valid_code
from cartback.domain.stores import Platform, Store
from cartback.domain.touches import TouchStatus
from cartback.services.restore import RestoreCart, with_link_utm

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
TEE_M = LineItem(product_id="10", variant_id="11", name="Tee", variant_name="M", quantity=2)
TEE_L = LineItem(product_id="10", variant_id="12", name="Tee", variant_name="L", quantity=1)
MUG = LineItem(sku="MUG-1", name="Mug", quantity=1)


def _item(key_id: str, **values: object) -> CatalogItem:
    fields: dict[str, object] = {
        "product_id": "10",
        "variant_id": key_id,
        "available": True,
        "read_at": NOW,
        "updated_at": NOW,
        **values,
    }
    return CatalogItem(**fields)  # type: ignore[arg-type]


def _offer(code: str, **values: object) -> OfferRecord:
    fields: dict[str, object] = {
        "id": f"of_{code}",
        "store_id": "st_1",
        "code": code,
        "kind": OfferKind.PERCENT,
        "value": Decimal(10),
        "currency": "USD",
        "source": "store",
        "offer_key": code,
        "enrollment_id": "en_1",
        "contact_id": "ct_1",
        "cart_id": "ca_1",
        "flow": "cart-recovery",
        "step": 2,
        "status": OfferStatus.ACTIVE,
        "expires_at": NOW + timedelta(hours=48),
        "created_at": NOW - timedelta(hours=1),
        "updated_at": NOW - timedelta(hours=1),
        **values,
    }
    return OfferRecord(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("item", "kept"),
    [
        pytest.param(_item("12", quantity=3), True, id="in-stock"),
        pytest.param(_item("12", quantity=None), True, id="uncounted"),
        pytest.param(_item("12", quantity=0), False, id="zero"),
        pytest.param(_item("12", quantity=-2), False, id="oversold"),
        pytest.param(_item("12", available=False), False, id="unavailable"),
    ],
)
def test_a_line_is_dropped_only_when_the_catalog_says_it_cannot_be_bought(
    item: CatalogItem, kept: bool
) -> None:
    """
    The catalog's word on the large tee decides; the medium one and the mug the catalog does
    not know are kept.
    """
    # when
    split = split_available([TEE_M, TEE_L, MUG], {item.key: item})

    # then
    assert ((TEE_M, TEE_L, MUG) if kept else (TEE_M, MUG)) == split.kept
    assert (() if kept else (TEE_L,)) == split.dropped


def test_a_line_known_by_its_sku_is_judged_by_it() -> None:
    """
    A line with only a SKU is found through `s:<sku>`.
    """
    # given
    item = CatalogItem(product_id="m", sku="MUG-1", available=False, read_at=NOW, updated_at=NOW)

    # when
    split = split_available([MUG], {"s:MUG-1": item})

    # then
    assert (MUG,) == split.dropped


def test_lines_without_quantity_are_left_out() -> None:
    """
    A line emptied to zero is neither restored nor named as dropped.
    """
    # when
    split = split_available([replace(TEE_M, quantity=0)], {})

    # then
    assert ((), ()) == (split.kept, split.dropped)


@pytest.mark.parametrize(
    ("offers", "expected"),
    [
        pytest.param([], None, id="none"),
        pytest.param([_offer("A")], "A", id="active"),
        pytest.param([_offer("A", expires_at=NOW)], None, id="expired-now"),
        pytest.param([_offer("A", status=OfferStatus.PENDING)], None, id="pending"),
        pytest.param([_offer("A", status=OfferStatus.FAILED)], None, id="failed"),
        pytest.param(
            [_offer("A", status=OfferStatus.SUPERSEDED), _offer("B", created_at=NOW)],
            "B",
            id="superseded",
        ),
        pytest.param(
            [_offer("A"), _offer("B", created_at=NOW, status=OfferStatus.REDEEMED)],
            "A",
            id="newest-used",
        ),
    ],
)
def test_the_code_is_the_newest_valid_one(offers: list[OfferRecord], expected: str | None) -> None:
    """
    Only a live, unexpired code goes in a link, the newest when several are.
    """
    # when / then
    assert expected == valid_code(offers, NOW)


def test_a_line_is_named_with_its_variant() -> None:
    """
    The notice names a line by its name and variant, else by an id.
    """
    # when / then
    assert ["Tee (M)", "Mug", "p-9"] == [
        line_title(line) for line in (TEE_M, MUG, LineItem(product_id="p-9"))
    ]


def _found(channel: Channel = Channel.EMAIL) -> RestoreCart:
    store = Store(
        id="st_1",
        name="Shop",
        platform=Platform.WOOCOMMERCE,
        domains=("wp.example.com",),
        currency="USD",
        timezone="UTC",
        abandon_after=timedelta(minutes=30),
        created_at=NOW,
        updated_at=NOW,
    )
    touch = TouchRecord(
        id="tc_1",
        store_id="st_1",
        enrollment_id="en_1",
        cart_id="ca_1",
        step=2,
        channel=channel,
        template="resolution",
        status=TouchStatus.SENT,
        due_at=NOW,
        created_at=NOW,
        updated_at=NOW,
    )
    return RestoreCart(store=store, touch=touch, flow="checkout recovery", lines=(TEE_M,))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param(
            "https://wp.example.com/checkout-link/?products=11:2,12:1&coupon=A%20B",
            "https://wp.example.com/checkout-link/?products=11:2,12:1&coupon=A%20B&{utm}",
            id="woocommerce",
        ),
        pytest.param(
            "https://m2.example.com/cartback/cart/restore?sku%5B0%5D=X&qty%5B0%5D=1",
            "https://m2.example.com/cartback/cart/restore?sku%5B0%5D=X&qty%5B0%5D=1&{utm}",
            id="magento",
        ),
        pytest.param(
            "https://shop.example.com/cart/1:2",
            "https://shop.example.com/cart/1:2?{utm}",
            id="no-query",
        ),
        pytest.param(
            "https://shop.example.com?utm_source=x&a=1&utm_medium=y#top",
            "https://shop.example.com/?a=1&{utm}#top",
            id="own-utm-replaced",
        ),
        pytest.param("/", "/", id="not-http"),
    ],
)
def test_utm_parameters_are_merged_into_the_platforms_query(url: str, expected: str) -> None:
    """
    The platform's query stays as its builder wrote it; the four UTM keys are added (any
    earlier values replaced), the fragment kept.
    """
    # given
    utm = (
        "utm_source=cartback&utm_medium=sms&utm_campaign=checkout%20recovery"
        "&utm_content=resolution-2"
    )

    # when
    merged = with_link_utm(url, _found(Channel.SMS))

    # then
    assert expected.format(utm=utm) == merged
