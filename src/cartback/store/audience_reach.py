"""
Who is in an audience now, read for exports and pushes to ad networks: `audience_members` with
each contact's details and flow facts, and `audience_visitors` with each visitor's own flags.
The two reads never join each other's tables (anonymous ids stay apart from contact details).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, exists, select

from cartback.domain.ports import AudienceMemberFacts, AudienceVisitorFacts, Contact
from cartback.domain.reasons import Reason
from cartback.domain.touches import EnrollmentStatus, Group, TouchStatus
from cartback.store.tables import (
    audience_members,
    audience_visitors,
    contacts,
    enrollments,
    touches,
    visitors,
)


class SqlAudienceReachRepository:
    """
    Current audience memberships with what decides whether ads may reach each person, in one
    query per audience (never a query per member).
    """

    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def current_members(
        self, store_id: str, audience: str, *, now: datetime
    ) -> list[AudienceMemberFacts]:
        """
        The audience's current contacts (`left_at IS NULL AND expires_at > now`), oldest entry
        first, each with their active enrollment's group and whether it handed them to ads.
        """
        handed = exists().where(
            touches.c.enrollment_id == enrollments.c.id,
            touches.c.status == TouchStatus.SKIPPED.value,
            touches.c.reason == Reason.HANDED_TO_ADS.value,
        )
        query = (
            select(
                contacts,
                audience_members.c.offer_eligible,
                audience_members.c.entered_at,
                audience_members.c.expires_at,
                enrollments.c.group.label("active_group"),
                # Outside an enrollment the subquery has no row to match: false, never null.
                and_(enrollments.c.id.is_not(None), handed).label("handed_to_ads"),
            )
            .select_from(
                audience_members.join(
                    contacts,
                    and_(
                        contacts.c.id == audience_members.c.contact_id,
                        contacts.c.store_id == audience_members.c.store_id,
                    ),
                ).outerjoin(
                    # At most one active enrollment per contact (a partial unique index).
                    enrollments,
                    and_(
                        enrollments.c.contact_id == audience_members.c.contact_id,
                        enrollments.c.status == EnrollmentStatus.ACTIVE.value,
                    ),
                )
            )
            .where(
                audience_members.c.store_id == store_id,
                audience_members.c.audience == audience,
                audience_members.c.left_at.is_(None),
                audience_members.c.expires_at > now,
            )
            .order_by(audience_members.c.entered_at, audience_members.c.contact_id)
        )
        return [_member(row) for row in self._db.execute(query).mappings()]

    def current_visitors(
        self, store_id: str, audience: str, *, now: datetime
    ) -> list[AudienceVisitorFacts]:
        """
        The audience's current anonymous visitors, oldest entry first, with the visitor's own
        robot and no-to-ads flags; nothing from `contacts`.
        """
        query = (
            select(
                audience_visitors.c.visitor_id,
                visitors.c.anonymous_id,
                visitors.c.is_bot,
                visitors.c.ads_opt_out_at,
                audience_visitors.c.entered_at,
                audience_visitors.c.expires_at,
            )
            .select_from(
                audience_visitors.join(
                    visitors,
                    and_(
                        visitors.c.id == audience_visitors.c.visitor_id,
                        visitors.c.store_id == audience_visitors.c.store_id,
                    ),
                )
            )
            .where(
                audience_visitors.c.store_id == store_id,
                audience_visitors.c.audience == audience,
                audience_visitors.c.left_at.is_(None),
                audience_visitors.c.expires_at > now,
            )
            .order_by(audience_visitors.c.entered_at, audience_visitors.c.visitor_id)
        )
        return [
            AudienceVisitorFacts(
                visitor_id=row.visitor_id,
                anonymous_id=row.anonymous_id,
                is_bot=bool(row.is_bot),
                ads_opt_out_at=row.ads_opt_out_at,
                entered_at=row.entered_at,
                expires_at=row.expires_at,
            )
            for row in self._db.execute(query)
        ]


def _member(row: Any) -> AudienceMemberFacts:
    contact = Contact(
        id=row["id"],
        store_id=row["store_id"],
        user_id=row["user_id"],
        email=row["email"],
        phone=row["phone"],
        is_bot=bool(row["is_bot"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        ads_opt_out_at=row["ads_opt_out_at"],
    )
    group = row["active_group"]
    return AudienceMemberFacts(
        contact=contact,
        offer_eligible=row["offer_eligible"],
        entered_at=row["entered_at"],
        expires_at=row["expires_at"],
        active_group=Group(group) if group is not None else None,
        handed_to_ads=bool(row["handed_to_ads"]),
    )
