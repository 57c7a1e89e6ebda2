"""
Flow files (`contract.md` §7): the contract's own example and the shipped defaults validate;
every kind of mistake is reported, all at once, each at its line and column.
"""

from __future__ import annotations

from datetime import time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from cartback.domain.consent import Channel
from cartback.domain.flows import (
    FlowsInvalid,
    OfferKind,
    TriggerKind,
    flow_json,
    parse_flows,
)
from cartback.services.flows import shipped_flows, shipped_source

CONTRACT = (Path(__file__).parent.parent / "fixtures" / "flows" / "contract.yaml").read_text()


def _errors(text: str) -> list[tuple[int, str, str]]:
    with pytest.raises(FlowsInvalid) as caught:
        parse_flows(text)
    return [(p.line, p.path, p.message) for p in caught.value.problems]


def test_the_contract_example_validates_into_the_model() -> None:
    """
    Section 7's file reads as written: trigger, audience, holdout, exits, steps, offer, defaults.
    """
    # when
    flows = parse_flows(CONTRACT)
    # then
    flow = flows.flows[0]
    offer = flows.flows[0].steps[2].offer
    assert ("checkout-recovery", ("checkout", "payment_failed"), timedelta(minutes=30)) == (
        flow.name,
        flow.trigger.stages,
        flow.trigger.inactive_for,
    )
    assert (TriggerKind.ABANDONMENT, 0.10, 3) == (flow.trigger.kind, flow.holdout, len(flow.steps))
    assert [Channel.EMAIL, Channel.SMS, Channel.EMAIL] == [s.channel for s in flow.steps]
    assert offer is not None
    assert (OfferKind.PERCENT, Decimal(10), timedelta(hours=48), ("on_sale",)) == (
        offer.kind,
        offer.value,
        offer.expires_in,
        offer.exclude,
    )
    assert {"ordered", "unsubscribed", "cart_emptied", "newer_cart"} == flow.exit_on
    assert (time(9), time(20)) == (
        flows.defaults.quiet_hours["sms"].start,
        flows.defaults.quiet_hours["sms"].end,
    )
    assert (2, timedelta(hours=24)) == (
        flows.defaults.frequency_cap.messages,
        flows.defaults.frequency_cap.per,
    )


def test_the_shipped_defaults_validate_and_follow_the_arc() -> None:
    """
    Reminder about 1 h in, support about 24 h, resolution at 48-72 h; only the last step offers.
    """
    # when
    flows = parse_flows(shipped_source())
    # then
    assert {
        "checkout-high-value",
        "checkout-recovery",
        "cart-recovery",
        "browse-abandonment",
    } == {f.name for f in flows.flows}
    carts = [f for f in flows.flows if "browsing" not in f.trigger.stages]
    for flow in carts:
        elapsed = [
            sum((s.wait for s in flow.steps[: i + 1]), timedelta()) for i in range(len(flow.steps))
        ]
        assert timedelta(hours=1) == elapsed[0], flow.name
        assert timedelta(hours=48) <= elapsed[-1] <= timedelta(hours=72), flow.name
        assert [s.offer is not None for s in flow.steps] == [False] * (len(flow.steps) - 1) + [True]
        offer = flow.steps[-1].offer
        assert offer is not None
        assert offer.when is not None, flow.name
    assert shipped_flows() == parse_flows(shipped_source())


def test_the_shipped_browse_flow_is_one_plain_email_for_marketing_consent() -> None:
    """
    Browse abandonment is lighter than a cart's sequence: one email, no offer, only for people
    who agreed to marketing email, below every cart flow in priority.
    """
    # when
    flows = {f.name: f for f in parse_flows(shipped_source()).flows}
    # then
    browse = flows["browse-abandonment"]
    assert ("browsing",) == browse.trigger.stages
    assert [(Channel.EMAIL, None)] == [(s.channel, s.offer) for s in browse.steps]
    assert browse.audience is not None
    assert "contact.marketing_consent" in browse.audience.source
    assert all(browse.priority < f.priority for n, f in flows.items() if n != browse.name)


def test_an_sms_step_always_requires_sms_consent() -> None:
    """
    An SMS step without `when` gets `contact.sms_consent`; one with `when` gets it and-ed in.
    """
    # given
    text = """
flows:
  - name: texts
    trigger: {stages: [cart]}
    steps:
      - {wait: 1h, channel: sms, template: a}
      - {wait: 1h, channel: sms, template: b, when: "cart.total > 10"}
"""
    # when
    steps = parse_flows(text).flows[0].steps
    # then
    assert ["contact.sms_consent", "contact.sms_consent && (cart.total > 10)"] == [
        s.when.source if s.when else None for s in steps
    ]


HEAD = "flows:\n  - name: a\n    trigger: {stages: [cart]}\n"
BROKEN = """\
flows:
  - name: Bad Name
    trigger: {stages: [checkot], inactive_for: 0m, colour: red}
    audience: "cart.total >= "
    holdout: 0.7
    steps:
      - {wait: 1h, channel: fax, template: reminder}
      - {wait: 1x, channel: email, template: x, when: "cart.totl > 1"}
      - {wait: 1h, channel: email, template: x, variants: [{name: a,share: .7},{name: b,share: .6}]}
      - {wait: 1h, channel: email, template: y, when: "cart.total"}
      - {wait: 1h, channel: email, template: z, offer: {kind: percent, value: 150, expires_in: 2d}}
  - name: empty
    trigger: {stages: [cart]}
    steps: []
  - name: twice
    trigger: {stages: [cart]}
    steps: [{wait: 1h, channel: email, template: a}]
  - name: twice
    trigger: {stages: [cart]}
    steps: [{wait: 1h, channel: email, template: a, colour: blue}]
extra: 1
"""


def test_every_error_is_reported_with_its_line() -> None:
    """
    One pass finds them all, in file order, each at the line that holds it.
    """
    # when
    errors = _errors(BROKEN)
    # then
    assert [
        (2, "flows[0].name"),
        (3, "flows[0].trigger.stages[0]"),
        (3, "flows[0].trigger.inactive_for"),
        (3, "flows[0].trigger.colour"),
        (4, "flows[0].audience"),
        (5, "flows[0].holdout"),
        (7, "flows[0].steps[0].channel"),
        (8, "flows[0].steps[1].wait"),
        (8, "flows[0].steps[1].when"),
        (9, "flows[0].steps[2].variants"),
        (10, "flows[0].steps[3].when"),
        (11, "flows[0].steps[4].offer.value"),
        (14, "flows[1].steps"),
        (18, "flows[3].name"),
        (20, "flows[3].steps[0].colour"),
        (21, "extra"),
    ] == [(line, path) for line, path, _ in errors]


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        (
            "flows:\n  - name: a\n    trigger: {stages: [cart]}\n    stepz: []\n",
            4,
            "unknown key 'stepz'",
        ),
        ("flows:\n  - name: a\n    trigger: {stages: [cart]}\n", 2, "'steps' is required"),
        (
            HEAD + '    audience: "cart.total >"\n    steps: []\n',
            4,
            "bad expression: 1:13: Syntax error",
        ),
        (
            HEAD + '    audience: "__import__(1)"\n    steps: []\n',
            4,
            "Undefined variable or function: '__import__'",
        ),
        (
            "flows:\n  - name: a\n    trigger: {stages: [cart], kind: abandonment, window: 2d}\n",
            3,
            "a window is for back_in_stock and launch",
        ),
        ("flows:\n  - name: a\n    holdout: -0.1\n", 3, "the holdout is a share from 0 to 0.5"),
        ("flows:\n  - name: a\n    priority: 1.5\n", 3, "must be a whole number"),
        (
            "flows:\n  - !!python/object/apply:os.system ['true']\n",
            2,
            "tag tag:yaml.org,2002:python/object/apply:os.system is not allowed",
        ),
        ("flows: [\n", 2, "not valid YAML"),
        ("", 1, "the file is empty"),
        ("flows:\n  - name: a\n    name: b\n", 3, "'name' is given twice"),
        ('defaults:\n  quiet_hours: {sms: "9-20"}\nflows: []\n', 2, "write it like 09:00-20:00"),
        (
            'defaults:\n  quiet_hours: {email: "22:00-06:00"}\nflows: []\n',
            2,
            "passes midnight; a sending window must end on the day it starts",
        ),
        (
            "defaults:\n  frequency_cap: {messages: 0, per: 1d}\nflows: []\n",
            2,
            "whole number from 1 to 100",
        ),
        ("defaults:\n  hand_to_ads_after: 0\nflows: []\n", 2, "whole number from 1 to 20"),
        (
            HEAD + "    steps:\n      - {wait: 1h, channel: email, template: a,\n"
            "         offer: {kind: percent, expires_in: 1d, exclude: [cheap]}}\n",
            6,
            "write on_sale, category:NAME",
        ),
        (
            "flows:\n  - name: a\n    trigger: {stages: [cart]}\n    steps:\n"
            + "      - {wait: 1h, channel: email, template: a}\n" * 11,
            5,
            "list 1 to 10 steps",
        ),
    ],
)
def test_each_kind_of_mistake_names_its_line(text: str, line: int, expected: str) -> None:
    """
    Unknown and missing keys, bad expressions, out-of-range numbers, tags, YAML syntax, limits.
    """
    # when
    errors = _errors(text)
    # then
    assert any(line == at and expected in message for at, _, message in errors), errors


def test_the_parsed_json_keeps_what_the_file_said() -> None:
    """
    The stored definition writes durations back as in the file and money as a string.
    """
    # when
    data = flow_json(parse_flows(CONTRACT).flows[0])
    # then
    assert ("30m", "2d", "10", "contact.sms_consent") == (
        data["trigger"]["inactive_for"],
        data["steps"][2]["wait"],
        data["steps"][2]["offer"]["value"],
        data["steps"][1]["when"],
    )
