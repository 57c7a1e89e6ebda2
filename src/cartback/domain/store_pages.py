"""
What the dashboard's consent log, audiences and feeds health pages read, and the repository
that reads it (`StorePagesRepository`): a store's consent ledger in keyset pages, who is in
its audiences now, what each ad network holds of them, and why catalog items are left out of
the product feeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from cartback.domain.consent import Channel
from cartback.domain.feeds import LeftOut
from cartback.domain.time import check_aware


@dataclass(frozen=True, kw_only=True, slots=True)
class LedgerFilters:
    """
    What the consent log is narrowed to; None means any.
    """

    channel: Channel | None = None
    #: True for grants only, False for withdrawals only.
    granted: bool | None = None
    contact_id: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class LedgerRow:
    """
    One consent ledger entry as the log shows it: the contact's id (no contact details), what
    was claimed, and the evidence the ledger keeps (the words shown, where, from which client).
    """

    id: int
    contact_id: str
    channel: str
    purpose: str
    granted: bool
    text: str
    text_version: str | None
    locale: str | None
    source: str
    client_ip: str | None
    user_agent: str | None
    occurred_at: datetime
    recorded_at: datetime
    confirmed_at: datetime

    def __post_init__(self) -> None:
        check_aware(self.occurred_at, "occurred_at")
        check_aware(self.recorded_at, "recorded_at")
        check_aware(self.confirmed_at, "confirmed_at")


@dataclass(frozen=True, kw_only=True, slots=True)
class LedgerPage:
    """
    One page of the log, newest first, and the cursor of the next (None on the last).
    """

    rows: list[LedgerRow]
    next_cursor: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class AudienceCount:
    """
    How many are in an audience now: contacts and anonymous visitors, apart.
    """

    contacts: int = 0
    visitors: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class AudienceSyncSummary:
    """
    What one ad network holds of one audience (`audience_syncs`): identifiers present there
    now, identifiers removed since, and the latest add or removal.
    """

    audience: str
    network: str
    present: int
    removed: int
    last_at: datetime | None

    def __post_init__(self) -> None:
        check_aware(self.last_at, "last_at")


@dataclass(frozen=True, kw_only=True, slots=True)
class LeftOutItem:
    """
    A catalog item the feeds leave out, and why.
    """

    key: str
    title: str | None
    reason: LeftOut


class StorePagesRepository(Protocol):
    """
    Read-only queries behind the consent log, audiences and feeds health pages.
    """

    def ledger_page(
        self, store_id: str, *, filters: LedgerFilters, limit: int, cursor: str | None
    ) -> LedgerPage:
        """
        The store's ledger entries, newest first (by `occurred_at`, then id).

        Raises:
            InvalidInput: the cursor is not one this listing made.
        """
        ...

    def audience_counts(self, store_id: str, *, now: datetime) -> dict[str, AudienceCount]:
        """
        Current members (`left_at IS NULL AND expires_at > now`) by audience name.
        """
        ...

    def audience_syncs(self, store_id: str) -> list[AudienceSyncSummary]:
        """
        One summary per audience and network that ever synced, by audience then network.
        """
        ...

    def left_out_counts(self, store_id: str) -> dict[LeftOut, int]:
        """
        How many catalog items the feeds leave out, by the first reason `feeds.left_out` gives.
        """
        ...

    def left_out_items(self, store_id: str, *, limit: int) -> list[LeftOutItem]:
        """
        The first `limit` left-out items by item key, each with its reason.
        """
        ...
