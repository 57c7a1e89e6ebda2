"""
An audience as a file (`GET /v1/audiences/{name}/export`): the reachable members of
`services/audience_reach.py`, written in the columns each destination documents.

- `meta`: a Meta Custom Audience customer list with hashed identifiers. Meta's customer-list
  guide names the columns `email` and `phone`; each value is the SHA-256 of the identifier
  normalised by Meta's rules (`domain/ad_hashing.py`), which Meta matches as already hashed.
- `google`: a Google Ads Customer Match file with hashed identifiers. Google's guide names the
  columns `Email` and `Phone` (English, exactly so) and asks for SHA-256 of the lower-cased
  email and of the phone number in E.164 with its `+`.
- `csv`: the merchant's own plain list (`email,phone,entered_at,expires_at,offer_eligible`).
- `anonymous`: anonymous visitors only (`external_id,entered_at,expires_at`), never joined with
  contact details.

A member with no identifier the network can use (no email, no valid phone) is left out of the
hashed files rather than written as an empty row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from cartback.domain.ad_hashing import Network, hashed
from cartback.domain.errors import NotFound
from cartback.domain.ports import UnitOfWork
from cartback.domain.stores import Store
from cartback.services.audience_reach import (
    ReachableMember,
    anonymous_members,
    reachable_members,
)
from cartback.services.audiences import audience_names

#: Characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class ExportFormat(StrEnum):
    """
    The file layouts an audience can be exported in.
    """

    META = "meta"
    GOOGLE = "google"
    CSV = "csv"
    ANONYMOUS = "anonymous"


#: The hashed layouts: the network whose rules apply, and its column names (email, phone).
_HASHED: dict[ExportFormat, tuple[Network, tuple[str, str]]] = {
    ExportFormat.META: (Network.META, ("email", "phone")),
    ExportFormat.GOOGLE: (Network.GOOGLE, ("Email", "Phone")),
}


@dataclass(frozen=True, kw_only=True, slots=True)
class AudienceExport:
    """
    A CSV file's name, header and rows (every cell already text).
    """

    filename: str
    header: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]


def export_audience(
    *,
    uow: UnitOfWork,
    store: Store,
    audience: str,
    export_format: ExportFormat,
    now: datetime,
) -> AudienceExport:
    """
    The audience's reachable members now, in `export_format`'s layout.

    Args:
        uow: a fresh unit of work (read only is enough).
        store: the caller's store.
        audience: the audience's name.
        export_format: the layout.
        now: the instant membership and enrollments are judged at.

    Returns:
        The file's name, header and rows.

    Raises:
        NotFound: the store has no running audience of that name
            (`services.audiences.audience_names`: its applied ones, else the shipped ones).
    """
    with uow:
        if audience not in audience_names(uow, store):
            raise NotFound(f"no audience {audience!r} in this store")
        if export_format is ExportFormat.ANONYMOUS:
            header, rows = _anonymous(uow, store, audience, now)
        else:
            members = reachable_members(uow, store, audience, now)
            header, rows = _contacts(members, export_format)
    filename = f"{audience}-{export_format.value}-{now.astimezone(UTC):%Y%m%d}.csv"
    return AudienceExport(filename=filename, header=header, rows=rows)


#: A file's header and rows.
_Table = tuple[tuple[str, ...], list[tuple[str, ...]]]


def _contacts(members: Sequence[ReachableMember], export_format: ExportFormat) -> _Table:
    if export_format is ExportFormat.CSV:
        header = ("email", "phone", "entered_at", "expires_at", "offer_eligible")
        return header, [_plain(member) for member in members]
    network, columns = _HASHED[export_format]
    rows: list[tuple[str, ...]] = []
    for member in members:
        found = dict(hashed(network, member.email, member.phone))
        if found:
            rows.append((found.get("email", ""), found.get("phone", "")))
    return columns, rows


def _anonymous(uow: UnitOfWork, store: Store, audience: str, now: datetime) -> _Table:
    header = ("external_id", "entered_at", "expires_at")
    rows: list[tuple[str, ...]] = [
        (visitor.external_id, _time(visitor.entered_at), _time(visitor.expires_at))
        for visitor in anonymous_members(uow, store, audience, now)
    ]
    return header, rows


def _plain(member: ReachableMember) -> tuple[str, ...]:
    eligible = "" if member.offer_eligible is None else str(member.offer_eligible).lower()
    return (
        _safe_cell(member.email or ""),
        member.phone or "",  # E.164 (`+` and digits): a spreadsheet reads it as a number
        _time(member.entered_at),
        _time(member.expires_at),
        eligible,
    )


def _safe_cell(text: str) -> str:
    # An address may legally start with `=` or `-`; opened in a spreadsheet it would run as a
    # formula. A leading apostrophe keeps it text.
    return "'" + text if text.startswith(_FORMULA_START) else text


def _time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
