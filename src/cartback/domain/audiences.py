"""
Audience definitions (issue #8, `contract.md` §5.6): who an ad audience holds, and for how long.

An audiences file sits beside the flows and is read by the flows file's reader
(`cartback.domain.flows`), so its errors come the same way: every problem at once, each with
its line and column, unknown keys and bad expressions included. An audience is entered either
when a cart is abandoned at one of its `stages` (and its `when` holds), or, for
`handed_over: true`, when a flow hands the contact over to the ads (the touch reason
`handed_to_ads`). Membership lasts `window` after the last entry; a purchase, an opt-out or the
end of the window ends it at once.

Decisions a reader may look for:

- Anonymous visitors (no contact) enter only abandonment audiences with `anonymous: true` (the
  default): a hand-over is always a known contact's.
- An audience's `offer` is the flows' offer, with the same keys and the same eligibility rules
  (`cartback.domain.offers.eligibility`), so the ads never promise what an email would not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import timedelta
from enum import StrEnum
from typing import Any

import yaml

from cartback.domain.consent import Channel, LedgerUpdate, Purpose
from cartback.domain.durations import format_duration
from cartback.domain.errors import FieldError, InvalidInput
from cartback.domain.expressions import Expression
from cartback.domain.flows import (
    STAGES,
    FlowError,
    FlowsInvalid,
    Offer,
    _compose,
    _Invalid,
    _offer,
    _offer_json,
    _Reader,
)

MAX_AUDIENCES = 50
#: Ad networks keep website audiences up to 180 days (Meta) or 540 (Google); a year is plenty.
MAX_WINDOW = timedelta(days=365)
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_EMPTY = "the file is empty; expected `audiences:`"
_KEYS = ("name", "stages", "window", "when", "anonymous", "handed_over", "offer")


class EntryReason(StrEnum):
    """
    Why a person enters audiences.
    """

    ABANDONED = "abandoned"
    HANDED_OVER = "handed_over"


class LeaveReason(StrEnum):
    """
    Why a membership ended (`left_reason`).
    """

    PURCHASED = "purchased"
    OPTED_OUT = "opted_out"
    WINDOW_ENDED = "window_ended"


@dataclass(frozen=True, kw_only=True, slots=True)
class Audience:
    """
    One audience: what brings a person in, and how long they stay after their last entry.
    """

    name: str
    window: timedelta
    stages: tuple[str, ...] = ()
    when: Expression | None = None
    anonymous: bool = True
    handed_over: bool = False
    offer: Offer | None = None
    line: int = 0

    def admits(self, stage: str, reason: EntryReason) -> bool:
        """
        True when `reason` (at a cart of `stage`) is what enters this audience; its `when` is
        checked apart, on the person's facts.
        """
        if reason is EntryReason.HANDED_OVER:
            return self.handed_over and (not self.stages or stage in self.stages)
        return not self.handed_over and stage in self.stages


@dataclass(frozen=True, kw_only=True, slots=True)
class AudienceSet:
    """
    A validated audiences file.
    """

    audiences: tuple[Audience, ...]

    def get(self, name: str) -> Audience | None:
        """
        The audience called `name`.
        """
        return next((a for a in self.audiences if a.name == name), None)


class AudiencesInvalid(FlowsInvalid):
    """
    The audiences file is not valid.
    """

    slug = "invalid-audiences"

    def __init__(self, problems: list[FlowError]) -> None:
        InvalidInput.__init__(
            self,
            f"the audiences file has {len(problems)} error{'s' if len(problems) != 1 else ''}",
            errors=[
                FieldError(path=p.path, message=f"line {p.line}: {p.message}") for p in problems
            ],
        )
        self.problems = problems


def parse_audiences(text: str) -> AudienceSet:
    """
    Read and validate an audiences file.

    Raises:
        AudiencesInvalid: every problem in the file, each with its line and column.
    """
    reader = _Reader()
    root = _compose(text, reader)
    if root is None:
        # The shared reader names the flows file's root key; this file's is `audiences:`.
        reader.problems = [
            replace(p, message=_EMPTY) if p.message.startswith("the file is empty") else p
            for p in reader.problems
        ]
    audience_set = None
    if root is not None:
        try:
            audience_set = _file(reader, root)
        except _Invalid:
            audience_set = None
    if reader.problems or audience_set is None:
        raise AudiencesInvalid(sorted(reader.problems, key=lambda p: (p.line, p.column)))
    return audience_set


def _file(reader: _Reader, root: yaml.Node) -> AudienceSet | None:
    found = reader.mapping(root, "", allowed=("audiences",), required=("audiences",))
    if "audiences" not in found:
        return None
    items = reader.sequence(found["audiences"], "audiences")
    if not 1 <= len(items) <= MAX_AUDIENCES:
        raise reader.error(found["audiences"], "audiences", f"list 1 to {MAX_AUDIENCES} audiences")
    audiences: list[Audience] = []
    for index, item in enumerate(items):
        path = f"audiences[{index}]"
        with reader.collect():
            audience = _audience(reader, item, path)
            if any(a.name == audience.name for a in audiences):
                raise reader.error(item, f"{path}.name", f"{audience.name!r} is used twice")
            audiences.append(audience)
    return AudienceSet(audiences=tuple(audiences))


def _audience(reader: _Reader, node: yaml.Node, path: str) -> Audience:
    found = reader.mapping(node, path, allowed=_KEYS, required=("name", "window"))
    name = reader.optional(found, "name", path, lambda n, p: reader.text(n, p, _NAME))
    stages = reader.optional(found, "stages", path, lambda n, p: reader.names(n, p, STAGES))
    window = reader.optional(found, "window", path, lambda n, p: _window(reader, n, p))
    when = reader.optional(found, "when", path, reader.expression)
    anonymous = reader.optional(found, "anonymous", path, reader.flag)
    handed_over = reader.optional(found, "handed_over", path, reader.flag)
    offer = reader.optional(found, "offer", path, lambda n, p: _offer(reader, n, p))
    if stages == ():
        reader.error(found["stages"], f"{path}.stages", "list at least one stage")
    if "stages" not in found and "handed_over" not in found:
        reader.error(node, path, "give the stages that enter it, or handed_over: true")
    elif "stages" not in found and handed_over is False:
        reader.error(found["handed_over"], f"{path}.handed_over", "without stages, write true")
    optional = (("stages", stages), ("when", when), ("anonymous", anonymous))
    more = (("handed_over", handed_over), ("offer", offer))
    unread = any(key in found and value is None for key, value in (*optional, *more))
    if name is None or window is None or unread or not (stages or handed_over):
        raise _Invalid()
    return Audience(
        name=name,
        window=window,
        stages=stages or (),
        when=when,
        anonymous=True if anonymous is None else anonymous,
        handed_over=bool(handed_over),
        offer=offer,
        line=node.start_mark.line + 1,
    )


def _window(reader: _Reader, node: yaml.Node, path: str) -> timedelta:
    value = reader.duration(node, path)
    if not timedelta(0) < value <= MAX_WINDOW:
        raise reader.error(node, path, "a window is more than 0 and at most 365d")
    return value


# --- JSON and consent ----------------------------------------------------------------------


def audience_json(audience: Audience) -> dict[str, Any]:
    """
    An audience as plain JSON values (durations as in the file, money as strings).
    """
    return {
        "name": audience.name,
        "stages": list(audience.stages),
        "window": format_duration(audience.window),
        "when": audience.when.source if audience.when else None,
        "anonymous": audience.anonymous,
        "handed_over": audience.handed_over,
        "offer": None if audience.offer is None else _offer_json(audience.offer),
    }


def withdraws_email_marketing(update: LedgerUpdate) -> bool:
    """
    True when a ledger update takes back email marketing consent (the person leaves every
    audience: ads are marketing too).
    """
    return any(
        entry.claim.channel is Channel.EMAIL
        and entry.claim.purpose is Purpose.MARKETING
        and not entry.claim.granted
        for entry in update.entries
    )
