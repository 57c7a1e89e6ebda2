"""
Audience definitions: the file beside the flows is read by the flows' reader, so every error
comes at once with its line, and the shipped built-ins are the contract's five audiences.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from cartback.domain.audiences import (
    AudiencesInvalid,
    EntryReason,
    audience_json,
    parse_audiences,
)
from cartback.domain.flows import OfferKind
from cartback.services.audiences import shipped_audiences

EXAMPLE = """
audiences:
  - name: viewed-cart
    stages: [cart]
    window: 7d
    when: "cart.total >= 0"
    anonymous: true
  - name: email-unengaged
    handed_over: true
    window: 30d
  - name: high-value
    stages: [cart, checkout, payment_failed]
    when: "cart.total >= 200"
    window: 30d
    offer: {kind: percent, value: 10, min_total: 150}
"""


def _problems(text: str) -> list[tuple[int, str, str]]:
    with pytest.raises(AudiencesInvalid) as caught:
        parse_audiences(text)
    return [(p.line, p.path, p.message) for p in caught.value.problems]


def test_the_example_file_reads_into_audiences() -> None:
    """
    Stages, window, expression, the hand-over flag and a flows-style offer are all read.
    """
    # when
    audiences = parse_audiences(EXAMPLE)
    # then
    viewed, unengaged, high = audiences.audiences
    assert (("cart",), timedelta(days=7), "cart.total >= 0", True) == (
        viewed.stages,
        viewed.window,
        viewed.when.source if viewed.when else None,
        viewed.anonymous,
    )
    assert ((), True, timedelta(days=30)) == (
        unengaged.stages,
        unengaged.handed_over,
        unengaged.window,
    )
    assert high.offer is not None
    assert (OfferKind.PERCENT, Decimal(10), Decimal(150)) == (
        high.offer.kind,
        high.offer.value,
        high.offer.min_total,
    )


def test_the_built_ins_are_the_contract_five() -> None:
    """
    The shipped file holds the five audiences `contract.md` §5.6 names, with their windows.
    """
    # when
    shipped = {a.name: audience_json(a) for a in shipped_audiences().audiences}
    # then
    assert {
        "viewed-cart": (["cart"], "7d", None, False),
        "started-checkout": (["checkout"], "7d", None, False),
        "payment-failed": (["payment_failed"], "7d", None, False),
        "high-value": (["cart", "checkout", "payment_failed"], "30d", "cart.total >= 200", False),
        "email-unengaged": ([], "30d", None, True),
    } == {
        name: (a["stages"], a["window"], a["when"], a["handed_over"]) for name, a in shipped.items()
    }


def test_every_error_comes_with_its_line() -> None:
    """
    A bad name, an unknown stage, an unknown key, a misspelt field and a bad offer value are
    all reported, in file order, each at its own line.
    """
    # given
    text = """audiences:
  - name: Viewed
    stages: [cart, basket]
    window: 7d
    colour: red
    when: "cart.totl > 1"
    offer: {kind: percent, value: 120}
"""
    # when
    problems = _problems(text)
    # then
    assert [2, 3, 5, 6, 7] == [line for line, _, _ in problems]
    assert [
        "audiences[0].name",
        "audiences[0].stages[1]",
        "audiences[0].colour",
        "audiences[0].when",
        "audiences[0].offer.value",
    ] == [path for _, path, _ in problems]
    assert "bad expression" in problems[3][2]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", (1, "", "the file is empty; expected `audiences:`")),
        (
            "audiences:\n  - {name: a, stages: [cart]}\n",
            (2, "audiences[0]", "'window' is required"),
        ),
        (
            "audiences:\n  - {name: a, window: 1d}\n",
            (2, "audiences[0]", "give the stages that enter it, or handed_over: true"),
        ),
        (
            "audiences:\n  - {name: a, window: 1d, stages: []}\n",
            (2, "audiences[0].stages", "list at least one stage"),
        ),
        (
            "audiences:\n  - {name: a, window: 400d, stages: [cart]}\n",
            (2, "audiences[0].window", "a window is more than 0 and at most 365d"),
        ),
        (
            "audiences:\n  - {name: a, window: 1d, stages: [cart]}\n"
            "  - {name: a, window: 2d, stages: [checkout]}\n",
            (3, "audiences[1].name", "'a' is used twice"),
        ),
        ("flows: []\n", (1, "flows", "unknown key 'flows'; expected one of audiences")),
    ],
)
def test_a_file_without_what_an_audience_needs_is_refused(
    text: str, expected: tuple[int, str, str]
) -> None:
    """
    The file's own mistakes, one each, with the line and the message the merchant reads.
    """
    # when
    problems = _problems(text)
    # then
    assert expected in problems


@pytest.mark.parametrize(
    ("stage", "reason", "handed_over", "stages", "admitted"),
    [
        ("cart", EntryReason.ABANDONED, False, ("cart",), True),
        ("checkout", EntryReason.ABANDONED, False, ("cart",), False),
        ("cart", EntryReason.HANDED_OVER, False, ("cart",), False),
        ("cart", EntryReason.HANDED_OVER, True, (), True),
        ("cart", EntryReason.ABANDONED, True, (), False),
        ("checkout", EntryReason.HANDED_OVER, True, ("cart",), False),
    ],
)
def test_what_enters_an_audience(
    stage: str,
    reason: EntryReason,
    handed_over: bool,
    stages: tuple[str, ...],
    admitted: bool,
) -> None:
    """
    An abandonment enters the stage audiences; a hand-over only the `handed_over` ones (within
    their stages, when they list any).
    """
    # given
    flag = "true" if handed_over else "false"
    listed = f", stages: [{', '.join(stages)}]" if stages else ""
    audience = parse_audiences(
        f"audiences:\n  - {{name: a, window: 1d, handed_over: {flag}{listed}}}\n"
    ).audiences[0]
    # when
    result = audience.admits(stage, reason)
    # then
    assert admitted == result
