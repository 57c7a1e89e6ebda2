"""
The consent ledger's rule: only changes are recorded, in time order; nothing is implied.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cartback.domain.consent import Channel, ConsentClaim, ConsentFact, Purpose, changes

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def claim(
    granted: bool,
    *,
    minutes: int = 0,
    channel: Channel = Channel.EMAIL,
    purpose: Purpose = Purpose.MARKETING,
) -> ConsentClaim:
    """
    A claim from a platform checkbox at T0 plus some minutes.
    """
    return ConsentClaim(
        channel=channel,
        purpose=purpose,
        granted=granted,
        text="Shopify checkout: buyer_accepts_marketing",
        source="shopify_checkout",
        occurred_at=T0 + timedelta(minutes=minutes),
    )


def fact(granted: bool, minutes: int = 0, confirmed: int | None = None) -> ConsentFact:
    """
    A latest entry given at T0 plus `minutes`, last repeated at T0 plus `confirmed`.
    """
    return ConsentFact(
        granted=granted,
        occurred_at=T0 + timedelta(minutes=minutes),
        confirmed_at=T0 + timedelta(minutes=minutes if confirmed is None else confirmed),
    )


EMAIL_MARKETING = (Channel.EMAIL, Purpose.MARKETING)


def test_a_first_claim_is_recorded() -> None:
    """
    With nothing in the ledger, a grant is a change.
    """
    # given / when
    update = changes({}, [claim(True)])
    # then
    assert [claim(True)] == [e.claim for e in update.entries]


def test_repeating_the_current_state_adds_no_entry_but_confirms_it() -> None:
    """
    Every checkout update repeats its flags; the ledger does not grow for them, and the
    latest entry counts as said again at the last repeat.
    """
    # given
    current = {EMAIL_MARKETING: fact(True)}
    # when
    update = changes(current, [claim(True, minutes=2), claim(True, minutes=1)])
    # then
    assert ([], {EMAIL_MARKETING: T0 + timedelta(minutes=2)}) == (
        update.entries,
        update.confirmations,
    )


def test_repeats_within_one_batch_confirm_the_new_entry() -> None:
    """
    A change and its later repeats in one batch are one entry, confirmed at the last repeat.
    """
    # given / when
    update = changes({}, [claim(False, minutes=3), claim(False, minutes=1)])
    # then
    assert [(claim(False, minutes=1), T0 + timedelta(minutes=3))] == [
        (e.claim, e.confirmed_at) for e in update.entries
    ]


def test_a_withdrawal_then_a_grant_are_both_kept_in_time_order() -> None:
    """
    Claims are read in the order they happened, whatever order they arrived in.
    """
    # given
    current = {EMAIL_MARKETING: fact(True)}
    late_grant, early_withdrawal = claim(True, minutes=5), claim(False, minutes=1)
    # when
    update = changes(current, [late_grant, early_withdrawal])
    # then
    assert [early_withdrawal, late_grant] == [e.claim for e in update.entries]


def test_channels_and_purposes_are_separate() -> None:
    """
    Email marketing says nothing about SMS or recovery.
    """
    # given
    current = {EMAIL_MARKETING: fact(True)}
    sms = claim(True, channel=Channel.SMS)
    recovery = claim(True, purpose=Purpose.RECOVERY)
    # when
    update = changes(current, [sms, recovery])
    # then
    assert [sms, recovery] == [e.claim for e in update.entries]


def test_a_claim_older_than_the_latest_entry_cannot_overrule_it() -> None:
    """
    A webhook delivered late (its flag older than what the ledger holds) changes nothing.
    """
    # given
    current = {EMAIL_MARKETING: fact(True, minutes=10)}
    # when
    update = changes(current, [claim(False, minutes=5)])
    # then
    assert update.is_empty


def test_a_claim_older_than_the_latest_confirmation_cannot_overrule_it() -> None:
    """
    A grant at 0 repeated at 9: a withdrawal from 5 arriving late is older than what the
    ledger knows, though newer than the grant's own entry.
    """
    # given
    current = {EMAIL_MARKETING: fact(True, minutes=0, confirmed=9)}
    # when
    update = changes(current, [claim(False, minutes=5)])
    # then
    assert update.is_empty


@pytest.mark.parametrize("arrival", [(True, False), (False, True)])
def test_disagreeing_claims_of_one_instant_resolve_to_the_withdrawal(
    arrival: tuple[bool, bool],
) -> None:
    """
    Whichever of two same-instant claims arrives first, the state ends withdrawn.
    """
    # given
    first, second = (claim(granted) for granted in arrival)
    current: dict[tuple[Channel, Purpose], ConsentFact] = {}
    # when
    for arriving in (first, second):
        for entry in changes(current, [arriving]).entries:
            current[EMAIL_MARKETING] = fact(entry.claim.granted)
    # then
    assert not current[EMAIL_MARKETING].granted


def test_a_claim_without_its_text_is_refused() -> None:
    """
    The ledger proves what was shown; an empty text proves nothing.
    """
    # given / when / then
    with pytest.raises(ValueError, match="text"):
        ConsentClaim(
            channel=Channel.EMAIL,
            purpose=Purpose.RECOVERY,
            granted=True,
            text="  ",
            source="cart_page",
            occurred_at=T0,
        )
