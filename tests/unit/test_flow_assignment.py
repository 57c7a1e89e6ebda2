"""
Holdout and A/B assignment: a stable SHA-256 bucket per flow and contact puts the configured
share in control and splits variants by share, the same in every process.
"""

from __future__ import annotations

import json
import subprocess
import sys

from cartback.domain.assignment import bucket, choose_variant, is_withheld, template_for
from cartback.domain.flows import parse_flows

FLOWS = parse_flows(
    """
flows:
  - name: checkout-recovery
    trigger: {stages: [checkout]}
    holdout: 0.10
    steps:
      - wait: 1h
        channel: email
        template: reminder
        variants: [{name: short, share: 0.25, template: reminder-short}, {name: long, share: 0.25}]
  - name: nobody-held
    trigger: {stages: [cart]}
    steps: [{wait: 1h, channel: email, template: a}]
"""
)
FLOW = FLOWS.flows[0]
IDS = [f"ct_{n:06d}" for n in range(20_000)]


def test_the_holdout_share_is_within_two_percent() -> None:
    """
    10 % of 20,000 contacts are withheld, ±2 %; a flow without holdout withholds nobody.
    """
    # when
    withheld = sum(is_withheld(FLOW, contact) for contact in IDS) / len(IDS)
    none = sum(is_withheld(FLOWS.flows[1], contact) for contact in IDS)
    # then
    assert abs(withheld - 0.10) <= 0.02, withheld
    assert 0 == none


def test_variants_split_by_their_share() -> None:
    """
    25 % / 25 % go to the two variants, the remaining half to the step's own template.
    """
    # when
    chosen = [choose_variant(FLOW, 0, contact) for contact in IDS]
    shares = {
        name: sum((v.name if v else None) == name for v in chosen) / len(IDS)
        for name in ("short", "long", None)
    }
    # then
    assert abs(shares["short"] - 0.25) <= 0.02, shares
    assert abs(shares["long"] - 0.25) <= 0.02, shares
    assert abs(shares[None] - 0.50) <= 0.02, shares
    assert {"reminder-short", "reminder"} == {template_for(FLOW, 0, c) for c in IDS[:200]}


def test_assignment_is_the_same_in_another_process() -> None:
    """
    A fresh interpreter (another hash seed) puts the same contacts in the same groups.
    """
    # given
    sample = IDS[:500]
    here = [bucket("holdout", FLOW.name, c) for c in sample]
    code = (
        "import json, sys\n"
        "from cartback.domain.assignment import bucket\n"
        "ids = json.loads(sys.stdin.read())\n"
        "print(json.dumps([bucket('holdout', 'checkout-recovery', c) for c in ids]))\n"
    )
    # when
    result = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(sample),
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
    )
    # then
    assert here == json.loads(result.stdout)


def test_holdout_and_variant_hash_different_inputs() -> None:
    """
    Being withheld says nothing about the variant: both groups see every variant.
    """
    # when
    held = [c for c in IDS if is_withheld(FLOW, c)]
    # then
    assert {"short", "long", None} == {
        (v.name if v else None) for v in (choose_variant(FLOW, 0, c) for c in held)
    }
