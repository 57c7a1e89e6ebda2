"""
The pre-send guards with a frozen clock: every guard, every reason code, and their order.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from cartback.domain.consent import Basis, Channel, Permission
from cartback.domain.guards import (
    Cancel,
    Defer,
    FrequencyCap,
    GuardPolicy,
    ItemStock,
    Locality,
    OfferState,
    OrderMatch,
    Send,
    Skip,
    TouchContext,
    decide,
)
from cartback.domain.quiet_hours import DailyWindow
from cartback.domain.reasons import Reason
from cartback.domain.schedule import PeakPeriod, PeakSeason

NEW_YORK = "America/New_York"
#: Friday 2026-11-27 15:00 in New York (EST, UTC-5).
NOW = datetime(2026, 11, 27, 20, 0, tzinfo=UTC)
ALLOWED = Permission(allowed=True, basis=Basis.CONSENT)
NY_PHONE = Locality(store_zone="UTC", phone_zones=(NEW_YORK,), country="US", us_state="NY")


def touch(**overrides: object) -> TouchContext:
    defaults: dict[str, object] = {
        "channel": Channel.SMS,
        "permission": ALLOWED,
        "locality": NY_PHONE,
    }
    return TouchContext(**{**defaults, **overrides})  # type: ignore[arg-type]


def ny(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=ZoneInfo(NEW_YORK))


def test_a_touch_with_nothing_against_it_is_sent() -> None:
    """
    Consent, daytime, no recent sends: send now, with no offer and no stock claims.
    """
    # when
    decision = decide(touch(), NOW)
    # then
    assert Send() == decision


# --- ending the enrollment ------------------------------------------------------------------


@pytest.mark.parametrize("match", list(OrderMatch))
def test_an_order_found_by_any_key_cancels_with_ordered(match: OrderMatch) -> None:
    """
    An order matched by cart, checkout, email or phone ends the enrollment.
    """
    assert Cancel(reason=Reason.ORDERED) == decide(touch(ordered_by=frozenset({match})), NOW)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"cart_emptied": True}, Reason.CART_EMPTY),
        ({"replaced": True}, Reason.NEWER_CART),
        ({"is_bot": True}, Reason.BOT),
    ],
)
def test_cart_and_contact_facts_cancel(overrides: dict[str, object], reason: Reason) -> None:
    """
    An emptied cart, a replacing enrollment and a bot end the enrollment.
    """
    assert Cancel(reason=reason) == decide(touch(**overrides), NOW)


def test_ordered_wins_over_every_other_guard() -> None:
    """
    Order is the first check: an ordered, emptied, bot, unconsented touch is cancelled as ordered.
    """
    # given
    everything_wrong = touch(
        ordered_by=frozenset({OrderMatch.EMAIL}),
        cart_emptied=True,
        replaced=True,
        is_bot=True,
        permission=Permission(allowed=False, basis=Basis.WITHDRAWN),
    )
    # when / then
    assert Cancel(reason=Reason.ORDERED) == decide(everything_wrong, ny(27, 23))


# --- skipping this touch --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("basis", "reason"),
    [
        (Basis.NO_CONSENT, Reason.NO_CONSENT),
        (Basis.NO_ADDRESS, Reason.NO_CONSENT),
        (Basis.WITHDRAWN, Reason.UNSUBSCRIBED),
        (Basis.SUPPRESSED, Reason.UNSUBSCRIBED),
    ],
)
def test_a_refused_permission_skips_by_its_basis(basis: Basis, reason: Reason) -> None:
    """
    No consent (or no address) skips with `no_consent`; withdrawn or suppressed with
    `unsubscribed` (in a flow that does not exit on `unsubscribed`; one that does ends the
    enrollment, below). An SMS needs an SMS permission: the caller asks `may_contact` for SMS.
    """
    denied = Permission(allowed=False, basis=basis)
    assert Skip(reason=reason) == decide(touch(permission=denied, exit_on=frozenset()), NOW)


@pytest.mark.parametrize(
    ("channel", "unengaged", "expected"),
    [
        (Channel.EMAIL, 2, Send()),
        (Channel.EMAIL, 3, Skip(reason=Reason.HANDED_TO_ADS)),
        (Channel.SMS, 5, Send()),
    ],
)
def test_after_n_unengaged_emails_email_is_handed_to_ads(
    channel: Channel, unengaged: int, expected: object
) -> None:
    """
    With a hand-off after 3 unengaged emails, the next email is skipped; SMS is unaffected.
    """
    policy = GuardPolicy(hand_to_ads_after=3)
    context = touch(channel=channel, unengaged_emails=unengaged, policy=policy)
    assert expected == decide(context, NOW)


def _peak(*, max_touches: int | None = 1, pause: bool = True) -> PeakSeason:
    return PeakSeason(
        periods=(PeakPeriod(first=date(2026, 11, 27), last=date(2026, 11, 30)),),
        zone=ZoneInfo(NEW_YORK),
        delay_factor=2.0,
        max_touches=max_touches,
        pause_discounts=pause,
    )


@pytest.mark.parametrize(
    ("at", "sent", "expected"),
    [
        (NOW, 0, Send()),
        (NOW, 1, Skip(reason=Reason.PEAK_SEASON)),
        (ny(1, 12, month=12), 1, Send()),  # the day after the period
    ],
)
def test_peak_season_caps_touches_per_enrollment(at: datetime, sent: int, expected: object) -> None:
    """
    In peak season an enrollment gets at most `max_touches` sent touches; outside, no cap.
    """
    context = touch(policy=GuardPolicy(peak=_peak()), sent_in_enrollment=sent)
    assert expected == decide(context, at)


@pytest.mark.parametrize(
    ("offer", "peak", "expected"),
    [
        (OfferState(eligible=True), None, Send(include_offer=True)),
        (OfferState(eligible=False), None, Skip(reason=Reason.OFFER_INELIGIBLE)),
        (
            OfferState(eligible=False, required=False),
            None,
            Send(include_offer=False, notes=(Reason.OFFER_INELIGIBLE,)),
        ),
        (OfferState(eligible=True), _peak(max_touches=None), Skip(reason=Reason.PEAK_SEASON)),
        (
            OfferState(eligible=True, required=False),
            _peak(max_touches=None),
            Send(include_offer=False, notes=(Reason.PEAK_SEASON,)),
        ),
        (
            OfferState(eligible=True),
            _peak(max_touches=None, pause=False),
            Send(include_offer=True),
        ),
    ],
)
def test_the_offer_goes_only_while_allowed_and_not_paused(
    offer: OfferState, peak: PeakSeason | None, expected: object
) -> None:
    """
    An ineligible offer, or one paused by peak season, skips an offer step, or drops the
    offer from a step that can go without it.
    """
    context = touch(channel=Channel.EMAIL, offer=offer, policy=GuardPolicy(peak=peak))
    assert expected == decide(context, NOW)


# --- stock ----------------------------------------------------------------------------------


def item(key: str, *, in_stock: bool = True, age_min: int = 1, qty: int | None = None) -> ItemStock:
    return ItemStock(
        key=key, in_stock=in_stock, quantity=qty, read_at=NOW - timedelta(minutes=age_min)
    )


def test_stock_reads_sort_items_into_claims_re_wordings_and_omissions() -> None:
    """
    Fresh in stock: claimable (with "only N left" when low); stale or never read: shown with no
    claim; fresh sold out: left out.
    """
    # given
    items = (
        item("plenty", qty=40),
        item("low", qty=2),
        item("untracked"),
        item("stale", age_min=6),
        ItemStock(key="never", in_stock=True, read_at=None),
        item("gone", in_stock=False),
        item("zero", qty=0),
    )
    # when
    decision = decide(touch(items=items), NOW)
    # then
    assert isinstance(decision, Send)
    assert ("plenty", "low", "untracked") == decision.stock.still_available
    assert {"low": 2} == decision.stock.only_left
    assert ("stale", "never") == decision.stock.unconfirmed
    assert ("gone", "zero") == decision.stock.left_out


def test_all_items_sold_out_skips_with_out_of_stock() -> None:
    """
    Nothing left to show: the touch is skipped.
    """
    items = (item("a", in_stock=False), item("b", qty=0))
    assert Skip(reason=Reason.OUT_OF_STOCK) == decide(touch(items=items), NOW)


def test_a_stale_read_is_not_enough_to_say_back_in_stock() -> None:
    """
    A message that claims availability waits for a fresh read (`stale_stock`), not longer than
    the retry interval; a plain reminder goes with the item shown unclaimed.
    """
    # given
    items = (item("a", age_min=30),)
    # when
    claiming = decide(touch(items=items, claims_availability=True), NOW)
    reminding = decide(touch(items=items), NOW)
    # then
    assert Defer(until=NOW + timedelta(minutes=5), reason=Reason.STALE_STOCK) == claiming
    assert Send(stock=replace(Send().stock, unconfirmed=("a",))) == reminding


# --- quiet hours ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "now", "until"),
    [
        ("NY", ny(27, 8, 30), ny(27, 9)),  # configured 09-20 wins over federal 8-21
        ("NY", ny(27, 20), ny(28, 9)),  # end is excluded
        ("NY", ny(27, 19, 59), None),
        ("FL", ny(27, 19, 59), None),
        ("CT", ny(27, 8, 59), ny(27, 9)),
        ("RI", ny(27, 17, 59), None),  # Friday
        ("RI", ny(27, 18), ny(30, 9)),  # no weekend texts in Rhode Island: Monday
        ("TX", ny(29, 11), ny(29, 12)),  # Sunday noon in Texas (the zone here is New York's)
        (None, ny(27, 18, 30), ny(30, 9)),  # unknown US state: strictest, weekdays 9-18
    ],
)
def test_sms_waits_for_the_configured_and_legal_window(
    state: str | None, now: datetime, until: datetime | None
) -> None:
    """
    SMS goes only inside 09:00-20:00 and the state's legal window, in the recipient's time.
    """
    # given
    locality = replace(NY_PHONE, us_state=state)
    # when
    decision = decide(touch(locality=locality), now)
    # then
    expected = Send() if until is None else Defer(until=until, reason=Reason.QUIET_HOURS)
    assert expected == decision


def test_the_legal_window_wins_over_a_wider_configured_one() -> None:
    """
    A merchant who configures 07:00-23:00 still cannot text a Florida number at 20:30.
    """
    policy = GuardPolicy(quiet_hours={Channel.SMS: DailyWindow.parse("07:00-23:00")})
    context = touch(locality=replace(NY_PHONE, us_state="FL"), policy=policy)
    assert Defer(until=ny(28, 8), reason=Reason.QUIET_HOURS) == decide(context, ny(27, 20, 30))


def test_email_has_no_quiet_hours_unless_configured() -> None:
    """
    Quiet hours are per channel; the defaults only cover SMS.
    """
    assert Send() == decide(touch(channel=Channel.EMAIL), ny(27, 3))


@pytest.mark.parametrize(
    ("locality", "until"),
    [
        # Two zones an hour apart: 09:00 must have come in both (Denver is the later one).
        (
            Locality(store_zone="UTC", phone_zones=("America/Chicago", "America/Denver")),
            datetime(2026, 11, 27, 9, tzinfo=ZoneInfo("America/Denver")),
        ),
        # No zone from the phone: the address's, then the store's.
        (
            Locality(store_zone="UTC", address_zone="Europe/Berlin", country="DE"),
            datetime(2026, 11, 27, 9, tzinfo=ZoneInfo("Europe/Berlin")),
        ),
        (
            Locality(store_zone="Asia/Tokyo", phone_zones=("Etc/Unknown",), country="JP"),
            datetime(2026, 11, 27, 9, tzinfo=ZoneInfo("Asia/Tokyo")),
        ),
    ],
)
def test_the_recipients_zone_comes_from_phone_then_address_then_store(
    locality: Locality, until: datetime
) -> None:
    """
    Several zones for a number means the window must be open in all of them.
    """
    now = until - timedelta(minutes=30)
    assert Defer(until=until, reason=Reason.QUIET_HOURS) == decide(touch(locality=locality), now)


@pytest.mark.parametrize(
    ("now", "until"),
    [
        # 2026-03-08: New York springs forward at 02:00; 20:30 EDT -> 09:00 EDT next day.
        (datetime(2026, 3, 7, 20, 30, tzinfo=ZoneInfo(NEW_YORK)), ny(8, 9, month=3)),
        # 2026-11-01: falls back; 23:00 EST on Oct 31 EDT -> 09:00 EST.
        (datetime(2026, 10, 31, 23, 0, tzinfo=ZoneInfo(NEW_YORK)), ny(1, 9, month=11)),
    ],
)
def test_the_next_window_is_found_across_dst_changes(now: datetime, until: datetime) -> None:
    """
    The deferral lands on 09:00 local wall time whatever the offset did overnight.
    """
    decision = decide(touch(), now)
    assert Defer(until=until, reason=Reason.QUIET_HOURS) == decision


def test_a_window_that_never_opens_skips_with_quiet_hours() -> None:
    """
    Configured 19:00-20:00 for a Rhode Island number (legal until 18:00): nothing to wait for.
    """
    policy = GuardPolicy(quiet_hours={Channel.SMS: DailyWindow(start=time(19), end=time(20))})
    context = touch(locality=replace(NY_PHONE, us_state="RI"), policy=policy)
    assert Skip(reason=Reason.QUIET_HOURS) == decide(context, ny(27, 21))


# --- frequency cap --------------------------------------------------------------------------


def test_over_the_cap_the_touch_waits_for_the_oldest_send_to_age_out() -> None:
    """
    Two sends in the last 24 h (the default cap): defer until the older is 24 h old.
    """
    sends = (NOW - timedelta(hours=20), NOW - timedelta(hours=2))
    decision = decide(touch(channel=Channel.EMAIL, recent_sends=sends), NOW)
    assert Defer(until=NOW + timedelta(hours=4), reason=Reason.FREQUENCY_CAP) == decision


def test_a_send_exactly_one_period_ago_no_longer_counts() -> None:
    """
    Windows are half-open: a send 24 h ago leaves room.
    """
    sends = (NOW - timedelta(hours=24), NOW - timedelta(hours=2))
    assert Send() == decide(touch(channel=Channel.EMAIL, recent_sends=sends), NOW)


def test_a_capped_sms_is_deferred_to_a_moment_inside_quiet_hours_too() -> None:
    """
    The cap clears at 22:00 New York time, outside the window: the SMS waits for 09:00.
    """
    # given
    now = ny(27, 15)
    sends = (ny(26, 22), ny(27, 14))
    policy = GuardPolicy(frequency_cap=FrequencyCap(messages=2, per=timedelta(hours=24)))
    # when
    decision = decide(touch(recent_sends=sends, policy=policy), now)
    # then
    assert Defer(until=ny(28, 9), reason=Reason.FREQUENCY_CAP) == decision


def test_a_deferral_names_the_first_guard_that_held_it() -> None:
    """
    Outside quiet hours and over the cap: the reason is `quiet_hours`, the time satisfies both.
    """
    sends = (ny(27, 8, 30), ny(27, 7))
    decision = decide(touch(recent_sends=sends), ny(27, 8, 45))
    assert Defer(until=ny(28, 9), reason=Reason.QUIET_HOURS) == decision


def test_naive_now_is_refused() -> None:
    """
    Time is always aware.
    """
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(touch(), datetime(2026, 11, 27, 12))  # noqa: DTZ001


ALL_EXITS = frozenset({"ordered", "unsubscribed", "cart_emptied", "newer_cart"})
WITHDRAWN = Permission(allowed=False, basis=Basis.WITHDRAWN)


@pytest.mark.parametrize(
    ("overrides", "exit_on", "expected"),
    [
        ({"cart_emptied": True}, ALL_EXITS, Cancel(reason=Reason.CART_EMPTY)),
        ({"cart_emptied": True}, frozenset({"ordered"}), Skip(reason=Reason.CART_EMPTY)),
        ({"permission": WITHDRAWN}, ALL_EXITS, Cancel(reason=Reason.UNSUBSCRIBED)),
        ({"permission": WITHDRAWN}, frozenset({"ordered"}), Skip(reason=Reason.UNSUBSCRIBED)),
        (
            {"ordered_by": frozenset({OrderMatch.CART})},
            frozenset(),
            Cancel(reason=Reason.ORDERED),
        ),
        ({"is_bot": True, "cart_emptied": True}, frozenset(), Cancel(reason=Reason.BOT)),
        (
            {"permission": Permission(allowed=False, basis=Basis.NO_CONSENT)},
            ALL_EXITS,
            Skip(reason=Reason.NO_CONSENT),
        ),
    ],
)
def test_exit_on_decides_what_ends_the_enrollment(
    overrides: dict[str, object], exit_on: frozenset[str], expected: Cancel | Skip
) -> None:
    """
    An emptied cart ends it only when listed (else only this touch is skipped); an
    unsubscribe ends it when listed; an order or a bot always does; a missing consent only
    skips.
    """
    # when / then
    assert expected == decide(touch(exit_on=exit_on, **overrides), NOW)
