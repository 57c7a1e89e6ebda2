"""
Holdout and A/B assignment: pure, stable, and the same in every process.

A contact's bucket is a number in [0, 1) taken from SHA-256 of the flow's name and the contact id
(never Python's `hash`, which is salted per process). The same contact therefore always lands in
the same group of the same flow, on every worker and after every restart; renaming a flow
reshuffles it. Holdout and variants hash different inputs, so being in the control group says
nothing about the variant one would have had.
"""

from __future__ import annotations

import hashlib

from cartback.domain.flows import Flow, Step, Variant

_SCALE = float(1 << 64)


def bucket(*parts: str) -> float:
    """
    A stable number in [0, 1) for `parts` (joined unambiguously).
    """
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def is_withheld(flow: Flow, contact_id: str) -> bool:
    """
    Whether the contact is in the flow's control group: enrolled, but every touch `withheld`.
    """
    return flow.holdout > 0 and bucket("holdout", flow.name, contact_id) < flow.holdout


def choose_variant(flow: Flow, step_index: int, contact_id: str) -> Variant | None:
    """
    The step's variant for the contact, or None for the step's own template (what the variants'
    shares leave over).
    """
    step: Step = flow.steps[step_index]
    point = bucket("variant", flow.name, str(step_index), contact_id)
    edge = 0.0
    for variant in step.variants:
        edge += variant.share
        if point < edge:
            return variant
    return None


def template_for(flow: Flow, step_index: int, contact_id: str) -> str:
    """
    The template the contact gets at this step (the variant's own, or the step's).
    """
    variant = choose_variant(flow, step_index, contact_id)
    if variant is not None and variant.template:
        return variant.template
    return flow.steps[step_index].template
