"""
The pure rules of Meta conversion events (`domain/conversions.py`) and how the Conversions API
client reads Meta's answers (`channels/ads/capi.py`): names and aliases, what is skipped and
why, product ids as the feed has them, batches of at most 1,000 with the cursor they reach.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from cartback.channels.ads.capi import read_answer
from cartback.domain.conversions import (
    MAX_BATCH,
    AnswerKind,
    SkipReason,
    TrackedEvent,
    custom_data,
    hashed_external_id,
    meta_event_name,
    plan_batches,
    skip_reason,
)

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
CONTEXT = {"userAgent": "Mozilla/5.0", "page": {"url": "https://shop.example.com/"}}


def _event(event_id: int = 1, name: str = "Product Added", **overrides: Any) -> TrackedEvent:
    values: dict[str, Any] = {
        "id": event_id,
        "message_id": f"m-{event_id}",
        "name": name,
        "anonymous_id": "anon-1",
        "occurred_at": NOW - timedelta(minutes=1),
        "payload": {"context": CONTEXT, "properties": {"product_id": "p-1"}},
        **overrides,
    }
    return TrackedEvent(**values)


@pytest.mark.parametrize(
    ("name", "aliases", "expected"),
    [
        ("Product Added", {}, "AddToCart"),
        ("checkout_started", {}, "InitiateCheckout"),
        ("basket_add", {"basket add": "product added"}, "AddToCart"),
        ("Product Viewed", {}, None),
    ],
)
def test_event_names_and_the_stores_aliases_map_to_metas_events(
    name: str, aliases: dict[str, str], expected: str | None
) -> None:
    """
    Cartback's names (case and underscores do not count) and a store's aliases of them become
    Meta's standard events; other names none.
    """
    # given / when
    found = meta_event_name(name, aliases)
    # then
    assert expected == found


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"visitor_is_bot": True}, SkipReason.BOT),
        ({"visitor_opted_out": True}, SkipReason.ADS_OPT_OUT),
        ({"payload": {"context": {**CONTEXT, "gpc": True}}}, SkipReason.GPC),
        ({"anonymous_id": None}, SkipReason.NO_ANONYMOUS_ID),
        ({"occurred_at": NOW - timedelta(days=7, seconds=1)}, SkipReason.TOO_OLD),
        ({"payload": {"context": {"page": CONTEXT["page"]}}}, SkipReason.NO_USER_AGENT),
        ({"payload": {"context": {"userAgent": "Mozilla/5.0"}}}, SkipReason.NO_PAGE_URL),
        ({}, None),
    ],
)
def test_what_must_not_go_to_meta_is_skipped_with_its_reason(
    overrides: dict[str, Any], expected: SkipReason | None
) -> None:
    """
    Robots, a no to ads, GPC, no anonymous id, older than 7 days, or no user agent or page URL
    (which Meta requires of website events): each has its reason; an ordinary event none.
    """
    # given
    event = _event(**overrides)
    # when
    reason = skip_reason(event, now=NOW)
    # then
    assert expected == reason


def test_the_external_id_is_the_normalised_anonymous_ids_sha256() -> None:
    """
    Trimmed and lower-cased as Meta normalises customer fields, then lower-case hex.
    """
    # given
    anonymous_id = " Anon-7 "
    # when
    hashed = hashed_external_id(anonymous_id)
    # then
    assert hashlib.sha256(b"anon-7").hexdigest() == hashed


def test_product_ids_are_the_feeds_variant_then_product_then_sku() -> None:
    """
    A Shopify variant GID becomes its number (as the catalog and feed have it); a product
    without any id is left out of `contents`.
    """
    # given
    payload = {
        "properties": {
            "products": [
                {"variant_id": "gid://shopify/ProductVariant/42", "product_id": "p", "price": 2},
                {"product_id": "p-2", "sku": "S-2", "quantity": 3},
                {"sku": "S-3", "price": "1.5"},
                {"name": "no id at all"},
            ]
        }
    }
    # when
    data = custom_data(payload)
    # then
    assert ["42", "p-2", "S-3"] == data["content_ids"]
    assert [1, 3, 1] == [c["quantity"] for c in data["contents"]]
    assert 3.5 == data["value"]  # 2 x 1 + 1.5 x 1; the line without a price adds nothing


def test_2500_events_make_three_batches_each_with_the_id_it_reaches() -> None:
    """
    1,000 + 1,000 + 500 events; each batch's `through_id` is its last event's id.
    """
    # given
    events = [_event(i) for i in range(1, 2501)]
    # when
    batches = plan_batches(events, now=NOW, aliases={})
    # then
    assert [MAX_BATCH, MAX_BATCH, 500] == [len(b.events) for b in batches]
    assert [1000, 2000, 2500] == [b.through_id for b in batches]


def test_skipped_events_after_the_last_sent_one_still_move_the_cursor() -> None:
    """
    A robot's event after the last sendable one: the last batch reaches it and counts it.
    """
    # given
    events = [_event(1), _event(2, visitor_is_bot=True)]
    # when
    batches = plan_batches(events, now=NOW, aliases={})
    # then
    assert [(1, 2, {"bot": 1})] == [(len(b.events), b.through_id, dict(b.skipped)) for b in batches]


def test_only_skipped_events_make_one_empty_batch_that_moves_the_cursor() -> None:
    """
    Nothing to send, yet the cursor passes the skipped events (no request is needed).
    """
    # given
    events = [_event(5, visitor_opted_out=True), _event(9, visitor_opted_out=True)]
    # when
    batches = plan_batches(events, now=NOW, aliases={})
    # then
    assert [([], 9)] == [(b.events, b.through_id) for b in batches]


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, {"events_received": 3}, AnswerKind.ACCEPTED),
        (429, {}, AnswerKind.TRANSIENT),
        (503, {}, AnswerKind.TRANSIENT),
        (
            400,
            {"error": {"code": 17, "message": "User request limit reached"}},
            AnswerKind.TRANSIENT,
        ),
        (400, {"error": {"code": 1, "is_transient": True}}, AnswerKind.TRANSIENT),
        (400, {"error": {"code": 100, "message": "Invalid parameter"}}, AnswerKind.MALFORMED),
        (400, {"error": {"code": 190, "message": "Session expired"}}, AnswerKind.REFUSED),
        (403, {"error": {"code": 200, "message": "Permissions error"}}, AnswerKind.REFUSED),
    ],
)
def test_metas_answers_are_read_as_accepted_transient_malformed_or_refused(
    status: int, body: dict[str, Any], expected: AnswerKind
) -> None:
    """
    2xx accepted; 429, 5xx, throttling codes and `is_transient` transient; code 100 malformed;
    any other refusal (token, permission) refused.
    """
    # given
    response = httpx.Response(status, json=body, headers={"Retry-After": "7"})
    # when
    answer = read_answer(response)
    # then
    assert expected == answer.kind
    assert (7.0 if status >= 300 else None) == answer.retry_after
