"""
The send-time quality check on a rendered message (`domain.quality`): restore links that verify
and lead to a cart with items, an offer valid at send time for this enrollment, and stock claims
backed by a fresh read; `now` is always passed in.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from cartback.domain.discounts import OfferStatus
from cartback.domain.flows import OfferKind
from cartback.domain.guards import ItemStock
from cartback.domain.ports import OfferRecord
from cartback.domain.quality import (
    LinkFacts,
    MessageFacts,
    MessageLink,
    QualityCheck,
    check_message,
    message_links,
)
from cartback.domain.reasons import Reason

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
BASE = "https://cb.example"
TOKEN = "eyJhIjoxfQ.aBc-12_x"


def good_link(**overrides: Any) -> LinkFacts:
    values: dict[str, Any] = {
        "authentic": True,
        "store_id": "st_1",
        "touch_id": "tc_1",
        "expires_at": NOW + timedelta(days=7),
        "cart_store_id": "st_1",
        "cart_items": 2,
    }
    return LinkFacts(**{**values, **overrides})


def offer(**overrides: Any) -> OfferRecord:
    values: dict[str, Any] = {
        "id": "of_1",
        "store_id": "st_1",
        "code": "SAVE-AB12",
        "kind": OfferKind.PERCENT,
        "value": Decimal(10),
        "currency": "USD",
        "source": "cartback",
        "offer_key": "percent:10",
        "enrollment_id": "en_1",
        "contact_id": "co_1",
        "cart_id": "ca_1",
        "flow": "cart-recovery",
        "step": 1,
        "status": OfferStatus.ACTIVE,
        "expires_at": NOW + timedelta(hours=48),
        "created_at": NOW - timedelta(hours=1),
        "updated_at": NOW - timedelta(hours=1),
    }
    return OfferRecord(**{**values, **overrides})


def fresh(**overrides: Any) -> ItemStock:
    values: dict[str, Any] = {"key": "p-1", "in_stock": True, "read_at": NOW - timedelta(minutes=1)}
    return ItemStock(**{**values, **overrides})


def message(text: str = "Your cart is waiting: {link}", **overrides: Any) -> MessageFacts:
    values: dict[str, Any] = {
        "store_id": "st_1",
        "touch_id": "tc_1",
        "enrollment_id": "en_1",
        "contact_id": "co_1",
        "texts": (text.format(link=f"{BASE}/r/{TOKEN}?utm_source=cartback"),),
        "base_url": BASE,
        "links": {f"r/{TOKEN}": good_link()},
        "fresh_for": timedelta(minutes=5),
    }
    return MessageFacts(**{**values, **overrides})


def test_a_healthy_message_passes_every_check() -> None:
    """
    A verified link to a cart with items, a live code of this enrollment, a fresh stock claim.
    """
    # given
    facts = message(
        "Back in stock, only 3 left. Code SAVE-AB12: {link}",
        offer_code="SAVE-AB12",
        offers=(offer(),),
        stock=(fresh(quantity=3),),
    )
    # when
    verdict = check_message(facts, NOW)
    # then
    assert verdict.passed
    assert () == verdict.failures


def test_restore_links_are_found_once_each_with_their_kind() -> None:
    """
    Signed `/r/` tokens and short `/s/` codes after the base URL; other URLs are not links.
    """
    # given
    texts = (
        f"<a href='{BASE}/r/{TOKEN}?utm_source=x&amp;y=1'>go</a> {BASE}/r/{TOKEN}",
        f"{BASE}/s/ABCDEFGHJ https://other.example/r/zzz {BASE}/u/unsub",
    )
    # when
    found = message_links(texts, BASE + "/")
    # then
    assert (MessageLink(kind="r", token=TOKEN), MessageLink(kind="s", token="ABCDEFGHJ")) == found


@pytest.mark.parametrize(
    ("link", "words"),
    [
        (None, "not signed"),
        (good_link(authentic=False), "not signed"),
        (good_link(expires_at=NOW), "expired"),
        (good_link(store_id="st_2"), "another store or touch"),
        (good_link(touch_id="tc_2"), "another store or touch"),
        (good_link(cart_items=None), "cart is gone"),
        (good_link(cart_store_id="st_2"), "another store"),
        (good_link(cart_items=0), "no items"),
    ],
)
def test_a_broken_restore_link_fails_the_link_check(link: LinkFacts | None, words: str) -> None:
    """
    Unsigned, expired, pointing elsewhere, or at a cart gone or empty: `broken_link`.
    """
    # given
    facts = message(links={f"r/{TOKEN}": link} if link is not None else {})
    # when
    verdict = check_message(facts, NOW)
    # then
    assert [(QualityCheck.RESTORE_LINK, Reason.BROKEN_LINK)] == [
        (f.check, f.reason) for f in verdict.failures
    ]
    assert words in verdict.failures[0].detail


def test_a_link_is_judged_at_the_now_given() -> None:
    """
    The same link passes a minute before it expires and fails at its expiry.
    """
    # given
    facts = message(links={f"r/{TOKEN}": good_link(expires_at=NOW + timedelta(minutes=1))})
    # when / then
    assert check_message(facts, NOW).passed
    assert not check_message(facts, NOW + timedelta(minutes=1)).passed


@pytest.mark.parametrize(
    ("record", "words"),
    [
        (offer(status=OfferStatus.REVOKED), "revoked"),
        (offer(status=OfferStatus.SUPERSEDED), "superseded"),
        (offer(status=OfferStatus.PENDING), "pending"),
        (offer(status=OfferStatus.REDEEMED), "redeemed"),
        (offer(expires_at=NOW), "expired"),
        (offer(enrollment_id="en_2"), "another enrollment"),
        (offer(contact_id="co_2"), "another enrollment"),
        (offer(store_id="st_2"), "no such offer"),
    ],
)
def test_an_offer_invalid_at_send_time_fails_the_offer_check(
    record: OfferRecord, words: str
) -> None:
    """
    A carried code that is not active now, or not this enrollment's: `offer_ineligible`.
    """
    # given
    facts = message("Code SAVE-AB12: {link}", offer_code="SAVE-AB12", offers=(record,))
    # when
    verdict = check_message(facts, NOW)
    # then
    assert [(QualityCheck.OFFER, Reason.OFFER_INELIGIBLE)] == [
        (f.check, f.reason) for f in verdict.failures
    ]
    assert words in verdict.failures[0].detail


def test_a_code_without_its_offer_or_an_empty_code_fails() -> None:
    """
    The message was rendered with a code no offer row stands for, or with an empty one.
    """
    # when
    unknown = check_message(message(offer_code="GONE-1"), NOW)
    empty = check_message(message(offer_code=""), NOW)
    # then
    assert ["no such offer"] == [f.detail.split(": ")[-1] for f in unknown.failures]
    assert ["no code"] == [f.detail.split(": ")[-1] for f in empty.failures]


def test_an_older_code_of_the_enrollment_shown_in_the_text_is_checked_too() -> None:
    """
    The text shows a superseded code of the enrollment although it was rendered without one.
    """
    # given
    old = offer(status=OfferStatus.SUPERSEDED)
    facts = message("Use save-ab12 at {link}", offers=(old,))
    # when
    verdict = check_message(facts, NOW)
    # then
    assert [QualityCheck.OFFER] == [f.check for f in verdict.failures]


def test_a_message_without_an_offer_passes_the_offer_check() -> None:
    """
    The enrollment's revoked code is not in the text and the message carries none.
    """
    # given
    facts = message(offers=(offer(status=OfferStatus.REVOKED),))
    # when / then
    assert check_message(facts, NOW).passed


@pytest.mark.parametrize(
    "text",
    [
        "Back in stock: Lamp {link}",
        "Lamp is in stock {link}",
        "Lamp, still available {link}",
        "Gute Nachricht: wieder da {link}",
        "Lampe noch verfügbar {link}",
    ],
)
def test_an_availability_claim_without_a_fresh_read_fails_stale_stock(text: str) -> None:
    """
    A read older than the window, or none at all: `stale_stock`.
    """
    for stock in [(fresh(read_at=NOW - timedelta(minutes=6)),), (fresh(read_at=None),), ()]:
        # when
        verdict = check_message(message(text, stock=stock), NOW)
        # then
        assert [(QualityCheck.STOCK_CLAIM, Reason.STALE_STOCK)] == [
            (f.check, f.reason) for f in verdict.failures
        ]


def test_a_claim_the_fresh_read_contradicts_fails_out_of_stock() -> None:
    """
    "Back in stock" with a fresh read that says sold out.
    """
    # given
    facts = message("Back in stock {link}", stock=(fresh(in_stock=False),))
    # when
    verdict = check_message(facts, NOW)
    # then
    assert [Reason.OUT_OF_STOCK] == [f.reason for f in verdict.failures]


def test_only_n_left_needs_a_fresh_count_of_exactly_n() -> None:
    """
    "only 3 left" passes with a fresh count of 3, fails with 5 or with a stale 3.
    """
    text = "Lamp: only 3 left {link}"
    assert check_message(message(text, stock=(fresh(quantity=3),)), NOW).passed
    assert not check_message(message(text, stock=(fresh(quantity=5),)), NOW).passed
    stale = fresh(quantity=3, read_at=NOW - timedelta(minutes=10))
    assert not check_message(message(text, stock=(stale,)), NOW).passed


def test_words_that_claim_nothing_need_no_read() -> None:
    """
    A reminder, "no longer available", "not in stock": no claim, no read needed.
    """
    text = "Your cart is waiting. Lamp: no longer available, not in stock. {link}"
    assert check_message(message(text), NOW).passed


def test_the_read_is_judged_fresh_at_the_now_given() -> None:
    """
    A read 4 minutes old backs the claim now, and no longer 2 minutes later.
    """
    # given
    facts = message("Back in stock {link}", stock=(fresh(read_at=NOW - timedelta(minutes=4)),))
    # when / then
    assert check_message(facts, NOW).passed
    assert not check_message(facts, NOW + timedelta(minutes=2)).passed


def test_every_failed_check_is_reported_in_check_order() -> None:
    """
    A message failing all three checks lists the link first, then the offer, then the stock.
    """
    # given
    facts = message(
        "Back in stock! Code SAVE-AB12 {link}",
        links={},
        offer_code="SAVE-AB12",
        offers=(replace(offer(), status=OfferStatus.REVOKED),),
    )
    # when
    verdict = check_message(facts, NOW)
    # then
    assert [QualityCheck.RESTORE_LINK, QualityCheck.OFFER, QualityCheck.STOCK_CLAIM] == [
        f.check for f in verdict.failures
    ]


def test_a_naive_now_is_refused() -> None:
    """
    Time is a parameter and must be aware.
    """
    with pytest.raises(ValueError, match="now"):
        check_message(message(), datetime(2026, 11, 20, 15, 0))  # noqa: DTZ001
