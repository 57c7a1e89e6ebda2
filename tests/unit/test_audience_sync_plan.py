"""
The sync's difference (`services.audience_sync.plan_sync`): what a network must add and
remove so its list equals the identifiers wanted, and which held identifiers change owner.
"""

from __future__ import annotations

from cartback.domain.ports import SyncedIdentifier
from cartback.services.audience_sync import plan_sync

A, B, C = ("email", "a" * 64), ("email", "b" * 64), ("phone", "c" * 64)


def held(key: tuple[str, str], contact_id: str | None) -> SyncedIdentifier:
    return SyncedIdentifier(kind=key[0], identifier=key[1], contact_id=contact_id)


def test_adds_what_is_wanted_and_removes_what_is_not() -> None:
    """
    Wanted A and C, held A and B: C is added (with its contact), B removed, A left alone.
    """
    # when
    plan = plan_sync({A: "co_1", C: "co_2"}, [held(A, "co_1"), held(B, "co_3")])
    # then
    assert [held(C, "co_2")] == plan.adds
    assert [B] == plan.removes
    assert [] == plan.relinks


def test_an_erased_contacts_identifier_is_removed() -> None:
    """
    A held identifier whose contact was erased (no contact) and is not wanted is removed.
    """
    # when
    plan = plan_sync({}, [held(A, None)])
    # then
    assert ([], [A], []) == (plan.adds, plan.removes, plan.relinks)


def test_an_orphaned_identifier_wanted_again_is_relinked_not_pushed() -> None:
    """
    Held without a contact but wanted for a new one: nothing to push, the row changes owner.
    """
    # when
    plan = plan_sync({A: "co_9"}, [held(A, None)])
    # then
    assert ([], [], [held(A, "co_9")]) == (plan.adds, plan.removes, plan.relinks)
