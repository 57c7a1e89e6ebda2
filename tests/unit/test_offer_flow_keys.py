"""
Offer keys in flow files (`contract.md` §7, issue #7): the built-in eligibility rules
(`min_total`, `first_time_only`, `max_per_contact`, `margin_floor`), an optional `expires_in`
(the store's default), and a step's `partner_offer`, which never stacks with `offer`. Bad
values are errors at their line; the parsed JSON keeps what the file said.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from cartback.domain.flows import FlowsInvalid, OfferKind, flow_json, parse_flows

HEAD = "flows:\n  - name: a\n    trigger: {stages: [cart]}\n    steps:\n"
STEP = "      - wait: 1h\n        channel: email\n        template: resolution\n"


def _file(*lines: str) -> str:
    return HEAD + STEP + "".join(f"        {line}\n" for line in lines)


def _errors(text: str) -> list[tuple[int, str, str]]:
    with pytest.raises(FlowsInvalid) as caught:
        parse_flows(text)
    return [(p.line, p.path, p.message) for p in caught.value.problems]


def test_the_offer_rules_are_read_into_the_model() -> None:
    """
    Every new key, as written, on the step's offer.
    """
    # given
    text = _file(
        "offer:",
        "  kind: fixed",
        "  value: 15",
        "  expires_in: 3d",
        "  min_total: 60.50",
        "  first_time_only: true",
        "  max_per_contact: 2",
        "  margin_floor: 0.25",
        "  exclude: [on_sale, 'category:gift cards']",
    )
    # when
    offer = parse_flows(text).flows[0].steps[0].offer
    # then
    assert offer is not None
    assert (OfferKind.FIXED, Decimal(15), timedelta(days=3)) == (
        offer.kind,
        offer.value,
        offer.expires_in,
    )
    assert (Decimal("60.50"), True, 2, Decimal("0.25")) == (
        offer.min_total,
        offer.first_time_only,
        offer.max_per_contact,
        offer.margin_floor,
    )
    assert ("on_sale", "category:gift cards") == offer.exclude


def test_an_offer_without_rules_or_expiry_falls_back_on_the_store() -> None:
    """
    `expires_in` may be left out (None: the store's default); the rules are off or the store's.
    """
    # when
    offer = parse_flows(_file("offer: {kind: percent, value: 10}")).flows[0].steps[0].offer
    # then
    assert offer is not None
    assert (None, None, False, None, None) == (
        offer.expires_in,
        offer.min_total,
        offer.first_time_only,
        offer.max_per_contact,
        offer.margin_floor,
    )


def test_a_step_may_show_a_partner_offer() -> None:
    """
    `partner_offer` names a co-marketing program; steps without it have None.
    """
    # given
    text = _file("partner_offer: outdoor-co-2026") + STEP
    # when
    steps = parse_flows(text).flows[0].steps
    # then
    assert ("outdoor-co-2026", None) == (steps[0].partner_offer, steps[1].partner_offer)
    assert (None, None) == (steps[0].offer, steps[1].offer)


def test_offer_and_partner_offer_never_stack() -> None:
    """
    A step with both is an error at the `partner_offer` line.
    """
    # given
    text = _file("offer: {kind: percent, value: 10}", "partner_offer: outdoor-co")
    # when
    errors = _errors(text)
    # then
    assert [
        (
            9,
            "flows[0].steps[0].partner_offer",
            "a step has either offer or partner_offer, not both (offers never stack)",
        )
    ] == errors


@pytest.mark.parametrize(
    ("line", "path", "expected"),
    [
        ("offer: {kind: percent, value: 10, min_total: 0}", "offer.min_total", "above 0"),
        ("offer: {kind: percent, value: 10, min_total: -5}", "offer.min_total", "above 0"),
        ("offer: {kind: percent, value: 10, min_total: ten}", "offer.min_total", "not a number"),
        (
            "offer: {kind: percent, value: 10, first_time_only: 'yes please'}",
            "offer.first_time_only",
            "write true or false",
        ),
        (
            "offer: {kind: percent, value: 10, first_time_only: 1}",
            "offer.first_time_only",
            "write true or false",
        ),
        (
            "offer: {kind: percent, value: 10, max_per_contact: 0}",
            "offer.max_per_contact",
            "whole number from 1 to 1000",
        ),
        (
            "offer: {kind: percent, value: 10, max_per_contact: 1.5}",
            "offer.max_per_contact",
            "whole number from 1 to 1000",
        ),
        (
            "offer: {kind: percent, value: 10, margin_floor: 1}",
            "offer.margin_floor",
            "fraction from 0 to below 1",
        ),
        (
            "offer: {kind: percent, value: 10, margin_floor: -0.1}",
            "offer.margin_floor",
            "fraction from 0 to below 1",
        ),
        (
            "offer: {kind: percent, value: 10, expires_in: soon}",
            "offer.expires_in",
            "not a duration",
        ),
        ("offer: {kind: percent, value: 10, stack: true}", "offer.stack", "unknown key 'stack'"),
        ("offer: {value: 10}", "offer", "'kind' is required"),
        ("partner_offer: Outdoor_Co", "partner_offer", "use lower-case letters, digits and -"),
        ("partner_offer: ''", "partner_offer", "a value is required"),
    ],
)
def test_each_bad_offer_value_names_its_line(line: str, path: str, expected: str) -> None:
    """
    Out-of-range limits, non-booleans, bad durations, unknown keys and bad program names are
    errors at the step's line 8 (where the key is), naming the key.
    """
    # when
    errors = _errors(_file(line))
    # then
    assert 1 == len(errors), errors
    at, where, message = errors[0]
    assert (8, f"flows[0].steps[0].{path}") == (at, where)
    assert expected in message


def test_the_margin_floor_zero_and_boundaries_are_accepted() -> None:
    """
    A floor of 0 is allowed (never sell at a loss), as are a limit of 1000 and `false`.
    """
    # given
    text = _file(
        "offer: {kind: percent, value: 10, margin_floor: 0, max_per_contact: 1000,"
        " first_time_only: false, min_total: 0.01}"
    )
    # when
    offer = parse_flows(text).flows[0].steps[0].offer
    # then
    assert offer is not None
    assert (Decimal(0), 1000, False, Decimal("0.01")) == (
        offer.margin_floor,
        offer.max_per_contact,
        offer.first_time_only,
        offer.min_total,
    )


def test_the_json_keeps_the_new_keys() -> None:
    """
    The stored definition writes the rules back (money and fractions as strings), a missing
    `expires_in` as null, and the step's partner program.
    """
    # given
    text = (
        _file("offer: {kind: percent, value: 10, min_total: 50, margin_floor: 0.2}")
        + STEP
        + "        partner_offer: outdoor-co\n"
    )
    # when
    steps = flow_json(parse_flows(text).flows[0])["steps"]
    # then
    assert {
        "kind": "percent",
        "value": "10",
        "expires_in": None,
        "when": None,
        "exclude": [],
        "min_total": "50",
        "first_time_only": False,
        "max_per_contact": None,
        "margin_floor": "0.2",
    } == steps[0]["offer"]
    assert (None, "outdoor-co") == (steps[0]["partner_offer"], steps[1]["partner_offer"])
