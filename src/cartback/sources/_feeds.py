"""
What a platform poller hands the polling service: one page of a collection read in order of
last change, already translated into Cartback's messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from cartback.domain.ingest import Inbound


@dataclass(frozen=True, kw_only=True, slots=True)
class Page:
    """
    One page: its messages, how many objects it held (and how many could not be translated),
    the latest change time among them (the next cursor), and whether another page follows.
    """

    messages: list[Inbound] = field(default_factory=list)
    objects: int = 0
    invalid: int = 0
    newest: datetime | None = None
    more: bool = False
