"""
The policy tables: may this contact get this channel for this purpose now, per region.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cartback.domain.consent import (
    Basis,
    Channel,
    ConsentFact,
    ConsentPolicy,
    ConsentState,
    Permission,
    Purpose,
    Region,
    default_region,
    may_contact,
)

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
EMAIL, SMS = Channel.EMAIL, Channel.SMS
RECOVERY, MARKETING = Purpose.RECOVERY, Purpose.MARKETING


def fact(granted: bool, minutes: int = 0) -> ConsentFact:
    at = T0 + timedelta(minutes=minutes)
    return ConsentFact(granted=granted, occurred_at=at, confirmed_at=at)


def ask(
    region: Region,
    channel: Channel,
    purpose: Purpose,
    state: ConsentState | None = None,
    *,
    soft_opt_in: bool = False,
    is_customer: bool = False,
    suppressed: bool = False,
    has_address: bool = True,
) -> tuple[bool, Basis]:
    answer: Permission = may_contact(
        ConsentPolicy(region=region, soft_opt_in=soft_opt_in),
        state or {},
        channel,
        purpose,
        has_address=has_address,
        suppressed=suppressed,
        is_customer=is_customer,
    )
    return answer.allowed, answer.basis


# With nothing in the ledger: the region's default.
@pytest.mark.parametrize(
    ("region", "channel", "purpose", "expected"),
    [
        (Region.EU, EMAIL, RECOVERY, (False, Basis.NO_CONSENT)),
        (Region.EU, EMAIL, MARKETING, (False, Basis.NO_CONSENT)),
        (Region.EU, SMS, RECOVERY, (False, Basis.NO_CONSENT)),
        (Region.US, EMAIL, RECOVERY, (True, Basis.OPT_OUT_MODEL)),
        (Region.US, EMAIL, MARKETING, (True, Basis.OPT_OUT_MODEL)),
        (Region.US, SMS, RECOVERY, (False, Basis.NO_CONSENT)),
        (Region.US, SMS, MARKETING, (False, Basis.NO_CONSENT)),
        (Region.STRICT, EMAIL, RECOVERY, (False, Basis.NO_CONSENT)),
        (Region.STRICT, SMS, MARKETING, (False, Basis.NO_CONSENT)),
    ],
)
def test_without_a_ledger_entry_the_region_decides(
    region: Region, channel: Channel, purpose: Purpose, expected: tuple[bool, Basis]
) -> None:
    """
    EU and strict need consent for everything; the US allows email on the opt-out model and
    never SMS.
    """
    # when / then
    assert expected == ask(region, channel, purpose)


@pytest.mark.parametrize(
    ("soft_opt_in", "is_customer", "purpose", "expected"),
    [
        (True, True, RECOVERY, (True, Basis.SOFT_OPT_IN)),
        (True, False, RECOVERY, (False, Basis.NO_CONSENT)),
        (False, True, RECOVERY, (False, Basis.NO_CONSENT)),
        (True, True, MARKETING, (False, Basis.NO_CONSENT)),
    ],
)
def test_the_eu_soft_opt_in_covers_recovery_email_to_existing_customers_only(
    soft_opt_in: bool, is_customer: bool, purpose: Purpose, expected: tuple[bool, Basis]
) -> None:
    """
    Enabled by the merchant, for customers who bought before, for recovery email only.
    """
    # when / then
    assert expected == ask(
        Region.EU, EMAIL, purpose, soft_opt_in=soft_opt_in, is_customer=is_customer
    )


@pytest.mark.parametrize("region", list(Region))
def test_a_withdrawal_beats_every_region_and_a_grant_opens_every_region(region: Region) -> None:
    """
    The ledger's word comes before the table: no, even under the US opt-out model; yes, even
    under the strict table.
    """
    # when
    withdrawn = ask(region, EMAIL, RECOVERY, {(EMAIL, RECOVERY): fact(False)})
    granted = ask(region, SMS, RECOVERY, {(SMS, RECOVERY): fact(True)})
    # then
    assert ((False, Basis.WITHDRAWN), (True, Basis.CONSENT)) == (withdrawn, granted)


def test_a_marketing_grant_covers_recovery_on_the_same_channel_only() -> None:
    """
    Email marketing consent allows recovery email, not recovery SMS.
    """
    # given
    state = {(EMAIL, MARKETING): fact(True)}
    # when / then
    assert ((True, Basis.CONSENT), (False, Basis.NO_CONSENT)) == (
        ask(Region.EU, EMAIL, RECOVERY, state),
        ask(Region.EU, SMS, RECOVERY, state),
    )


def test_withdrawing_marketing_leaves_an_explicit_recovery_grant() -> None:
    """
    "Recovery only" on the preference page: marketing withdrawn, recovery still granted.
    """
    # given
    state = {(EMAIL, RECOVERY): fact(True), (EMAIL, MARKETING): fact(False, minutes=5)}
    # when / then
    assert ((True, Basis.CONSENT), (False, Basis.WITHDRAWN)) == (
        ask(Region.EU, EMAIL, RECOVERY, state),
        ask(Region.EU, EMAIL, MARKETING, state),
    )


def test_suppression_and_a_missing_address_come_first() -> None:
    """
    A suppressed address gets nothing even with consent; no address, nothing to send to.
    """
    # given
    state = {(EMAIL, RECOVERY): fact(True)}
    # when / then
    assert ((False, Basis.SUPPRESSED), (False, Basis.NO_ADDRESS)) == (
        ask(Region.US, EMAIL, RECOVERY, state, suppressed=True),
        ask(Region.US, EMAIL, RECOVERY, state, has_address=False),
    )


@pytest.mark.parametrize(
    ("country", "region"),
    [
        ("DE", Region.EU),
        ("GB", Region.EU),
        ("CH", Region.EU),
        ("US", Region.US),
        ("CA", Region.STRICT),
        (None, Region.STRICT),
    ],
)
def test_a_stores_country_gives_its_default_region(country: str | None, region: Region) -> None:
    """
    Europe gets the EU table, the US the US table, everyone else (and no country) strict.
    """
    # when / then
    assert region == default_region(country)
