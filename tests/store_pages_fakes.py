"""
An in-memory `StorePagesRepository` over `FakeDatabase`: the consent log from `.consents`
(an entry's id is its place in the list; recorded when it occurred), audience counts from
`.memberships`, sync summaries from `.audience_syncs` (no times: the fake keeps none), and
left-out items from `.catalog` through `feeds.left_out`.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING

from cartback.domain.errors import InvalidInput
from cartback.domain.feeds import LeftOut, left_out
from cartback.domain.store_pages import (
    AudienceCount,
    AudienceSyncSummary,
    LedgerFilters,
    LedgerPage,
    LedgerRow,
    LeftOutItem,
)

if TYPE_CHECKING:
    from fakes import FakeDatabase


class InMemoryStorePagesRepository:
    """
    `StorePagesRepository` over a `FakeDatabase`; cursors are the last row's id.
    """

    def __init__(self, db: FakeDatabase) -> None:
        self._db = db

    def ledger_page(
        self, store_id: str, *, filters: LedgerFilters, limit: int, cursor: str | None
    ) -> LedgerPage:
        rows = sorted(
            (r for r in self._rows(store_id) if _kept(r, filters)),
            key=lambda r: (r.occurred_at, r.id),
            reverse=True,
        )
        if cursor:
            if not cursor.isdigit():
                raise InvalidInput("the cursor is not one this listing made")
            last = next((r for r in rows if r.id == int(cursor)), None)
            rows = rows[rows.index(last) + 1 :] if last else []
        page = rows[:limit]
        more = len(rows) > limit and bool(page)
        return LedgerPage(rows=page, next_cursor=str(page[-1].id) if more else None)

    def _rows(self, store_id: str) -> list[LedgerRow]:
        return [
            LedgerRow(
                id=index,
                contact_id=contact_id,
                channel=e.claim.channel.value,
                purpose=e.claim.purpose.value,
                granted=e.claim.granted,
                text=e.claim.text,
                text_version=e.claim.text_version,
                locale=e.claim.locale,
                source=e.claim.source,
                client_ip=e.claim.client_ip,
                user_agent=e.claim.user_agent,
                occurred_at=e.claim.occurred_at,
                recorded_at=e.claim.occurred_at,
                confirmed_at=e.confirmed_at,
            )
            for index, (owner, contact_id, e) in enumerate(self._db.consents, start=1)
            if owner == store_id
        ]

    def audience_counts(self, store_id: str, *, now: datetime) -> dict[str, AudienceCount]:
        current = [
            m
            for m in self._db.memberships
            if m.store_id == store_id and m.left_at is None and m.expires_at > now
        ]
        contacts = Counter(m.audience for m in current if m.contact_id is not None)
        visitors = Counter(m.audience for m in current if m.visitor_id is not None)
        return {
            name: AudienceCount(contacts=contacts[name], visitors=visitors[name])
            for name in sorted({*contacts, *visitors})
        }

    def audience_syncs(self, store_id: str) -> list[AudienceSyncSummary]:
        held: Counter[tuple[str, str]] = Counter()
        gone: Counter[tuple[str, str]] = Counter()
        for (store, audience, network, _, _), (_, present) in self._db.audience_syncs.items():
            if store == store_id:
                (held if present else gone)[(audience, network)] += 1
        return [
            AudienceSyncSummary(
                audience=key[0], network=key[1], present=held[key], removed=gone[key], last_at=None
            )
            for key in sorted({*held, *gone})
        ]

    def left_out_counts(self, store_id: str) -> dict[LeftOut, int]:
        counts = Counter(i.reason for i in self._left_out(store_id))
        return {reason: counts[reason] for reason in LeftOut if reason in counts}

    def left_out_items(self, store_id: str, *, limit: int) -> list[LeftOutItem]:
        return self._left_out(store_id)[:limit]

    def _left_out(self, store_id: str) -> list[LeftOutItem]:
        found: list[LeftOutItem] = []
        for (store, key), item in sorted(self._db.catalog.items()):
            reason = left_out(item) if store == store_id else None
            if reason is not None:
                found.append(LeftOutItem(key=key, title=item.title, reason=reason))
        return found


def _kept(row: LedgerRow, filters: LedgerFilters) -> bool:
    return (
        (filters.channel is None or row.channel == filters.channel.value)
        and (filters.granted is None or row.granted is filters.granted)
        and (not filters.contact_id or row.contact_id == filters.contact_id)
    )
