"""
The guards every touch passes again just before it is sent: one pure function from what the
caller found (orders, consent, stock, recent sends, the recipient's locality) and `now` to a
decision. The caller reads; this decides; nothing here reads a clock or a database.

The order, and why (also in `docs/guards.md`):

1. `ordered`, `cart_empty`, `newer_cart`, `bot` cancel the enrollment: facts about the cart or
   the contact that no later moment undoes, so they win over everything.
2. consent (`no_consent`, `unsubscribed`), the hand-off to ads (`handed_to_ads`), the peak
   touch cap, stock (`out_of_stock`) and the offer (`offer_ineligible`, `peak_season`) skip
   this touch: it will never be right to send it, so it is not deferred first.
3. `stale_stock`, `quiet_hours` and `frequency_cap` defer it, to one moment that satisfies all
   three at once; a deferred touch passes every guard again when it comes due.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from cartback.domain.consent import Basis, Channel, Permission
from cartback.domain.quiet_hours import (
    DailyWindow,
    Week,
    allowed,
    every_day,
    intersect_weeks,
    legal_week,
    next_allowed,
    resolve_zones,
)
from cartback.domain.reasons import Reason
from cartback.domain.schedule import PeakSeason
from cartback.domain.sliding_window import earliest_slot
from cartback.domain.time import check_aware

#: Contract §7 `defaults.quiet_hours`: SMS only 09:00-20:00 in the recipient's local time.
DEFAULT_QUIET_HOURS: Mapping[Channel, DailyWindow] = {Channel.SMS: DailyWindow.parse("09:00-20:00")}
#: Contract §7 `exit_on`: what ends an enrollment when a flow file does not say.
DEFAULT_EXIT_ON = frozenset({"ordered", "unsubscribed", "cart_emptied", "newer_cart"})


class OrderMatch(StrEnum):
    """
    How an order was matched to the enrollment.
    """

    CART = "cart"
    CHECKOUT = "checkout"
    EMAIL = "email"
    PHONE = "phone"


@dataclass(frozen=True, kw_only=True, slots=True)
class FrequencyCap:
    """
    At most `messages` touches per `per`, over all flows and channels.
    """

    messages: int
    per: timedelta

    def __post_init__(self) -> None:
        if self.messages < 1 or self.per <= timedelta(0):
            raise ValueError("a frequency cap allows at least one message in a positive period")


@dataclass(frozen=True, kw_only=True, slots=True)
class StockRules:
    """
    How fresh a stock read must be to claim availability, when stock counts as low, and how
    long to wait for a fresh read when a message depends on one.
    """

    max_age: timedelta = timedelta(minutes=5)
    low_stock_at: int = 5
    retry_after: timedelta = timedelta(minutes=5)


@dataclass(frozen=True, kw_only=True, slots=True)
class GuardPolicy:
    """
    A store's sending rules, from its flow defaults and settings.
    """

    quiet_hours: Mapping[Channel, DailyWindow] = field(
        default_factory=lambda: dict(DEFAULT_QUIET_HOURS)
    )
    frequency_cap: FrequencyCap | None = field(
        default_factory=lambda: FrequencyCap(messages=2, per=timedelta(hours=24))
    )
    stock: StockRules = field(default_factory=StockRules)
    peak: PeakSeason | None = None
    #: Email touches stop after this many emails in a row without an open or click.
    hand_to_ads_after: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Locality:
    """
    Where the recipient is, as plain values (`kit.phone_locality` reads them from a number).
    """

    store_zone: str
    phone_zones: tuple[str, ...] = ()
    address_zone: str | None = None
    #: The phone number's region code (`US`, `PR`, `DE`), `None` when unknown.
    country: str | None = None
    #: USPS state code of a US number, `None` when unknown.
    us_state: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ItemStock:
    """
    A cart line's latest stock read; `read_at` is `None` when it was never read.
    """

    key: str
    in_stock: bool
    read_at: datetime | None
    quantity: int | None = None

    def __post_init__(self) -> None:
        check_aware(self.read_at, "read_at")


@dataclass(frozen=True, kw_only=True, slots=True)
class OfferState:
    """
    The step's offer: still allowed for this cart and contact, and whether the message is
    pointless without it (`required`) or can go without it.
    """

    eligible: bool
    required: bool = True


@dataclass(frozen=True, kw_only=True, slots=True)
class TouchContext:
    """
    Everything the guards read about one touch, gathered by the caller just before sending.
    """

    channel: Channel
    #: `may_contact` for this channel and the flow's purpose.
    permission: Permission
    locality: Locality
    policy: GuardPolicy = field(default_factory=GuardPolicy)
    ordered_by: frozenset[OrderMatch] = frozenset()
    cart_emptied: bool = False
    #: A newer cart or a later stage has replaced this enrollment (`schedule.replacement`).
    replaced: bool = False
    is_bot: bool = False
    unengaged_emails: int = 0
    #: Touches already sent in this enrollment, for the peak-season cap.
    sent_in_enrollment: int = 0
    #: When the contact was last sent anything, by any flow on any channel.
    recent_sends: tuple[datetime, ...] = ()
    items: tuple[ItemStock, ...] = ()
    #: The message says an item is available (back in stock): it needs a fresh read.
    claims_availability: bool = False
    offer: OfferState | None = None
    #: The flow's `exit_on`: an emptied cart ends the enrollment only when it lists
    #: `cart_emptied` (else this touch is skipped), an unsubscribe ends it when it lists
    #: `unsubscribed` (else each touch is skipped). An order, a bot, a newer cart always end it.
    exit_on: frozenset[str] = DEFAULT_EXIT_ON


@dataclass(frozen=True, kw_only=True, slots=True)
class StockPlan:
    """
    What the message may say about each item: claim it available (and "only N left"), show it
    without a claim (the read is stale), or leave it out (sold out).
    """

    still_available: tuple[str, ...] = ()
    only_left: Mapping[str, int] = field(default_factory=dict)
    unconfirmed: tuple[str, ...] = ()
    left_out: tuple[str, ...] = ()

    @property
    def shown(self) -> tuple[str, ...]:
        return self.still_available + self.unconfirmed


@dataclass(frozen=True, kw_only=True, slots=True)
class Send:
    """
    Send now, with what the stock allows and with or without the offer; `notes` says why a
    part was left out.
    """

    stock: StockPlan = field(default_factory=StockPlan)
    include_offer: bool = False
    notes: tuple[Reason, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class Defer:
    """
    Not now: run the guards again at `until`, which is after now and passes quiet hours and
    the frequency cap as far as we know today.
    """

    until: datetime
    reason: Reason


@dataclass(frozen=True, kw_only=True, slots=True)
class Skip:
    """
    Never this touch; the enrollment's later touches still run.
    """

    reason: Reason


@dataclass(frozen=True, kw_only=True, slots=True)
class Cancel:
    """
    End the enrollment: cancel this touch and every one after it.
    """

    reason: Reason


Decision = Send | Defer | Skip | Cancel

_UNSUBSCRIBED_BASES = frozenset({Basis.WITHDRAWN, Basis.SUPPRESSED})


def decide(touch: TouchContext, now: datetime) -> Decision:
    """
    Whether the touch goes now, in the order of the module docstring.

    Raises:
        ValueError: a naive `now`, or the store's zone is not an IANA zone.
    """
    check_aware(now, "now")
    ended = _ended(touch)
    if ended is not None:
        return Cancel(reason=ended)
    skipped = _never_this_touch(touch, now)
    if skipped is not None:
        return _skip_or_end(touch, skipped)
    stock = stock_plan(touch.items, now, touch.policy.stock)
    if touch.items and not stock.shown:
        return Skip(reason=Reason.OUT_OF_STOCK)
    offer_blocked = _offer_blocked(touch, now)
    if offer_blocked is not None and touch.offer is not None and touch.offer.required:
        return Skip(reason=offer_blocked)
    later = _deferral(touch, now, stock)
    if later is not None:
        return later
    return Send(
        stock=stock,
        include_offer=touch.offer is not None and offer_blocked is None,
        notes=(offer_blocked,) if offer_blocked is not None else (),
    )


def _skip_or_end(touch: TouchContext, reason: Reason) -> Skip | Cancel:
    """
    Not this touch; an unsubscribe ends the whole enrollment when the flow exits on it.
    """
    if reason is Reason.UNSUBSCRIBED and "unsubscribed" in touch.exit_on:
        return Cancel(reason=reason)
    return Skip(reason=reason)


def _ended(touch: TouchContext) -> Reason | None:
    if touch.ordered_by:
        return Reason.ORDERED
    if touch.cart_emptied and "cart_emptied" in touch.exit_on:
        return Reason.CART_EMPTY
    if touch.replaced:
        return Reason.NEWER_CART
    if touch.is_bot:
        return Reason.BOT
    return None


def _never_this_touch(touch: TouchContext, now: datetime) -> Reason | None:
    if touch.cart_emptied:
        return Reason.CART_EMPTY  # the flow goes on after an emptied cart: not this touch
    if not touch.permission.allowed:
        if touch.permission.basis in _UNSUBSCRIBED_BASES:
            return Reason.UNSUBSCRIBED
        return Reason.NO_CONSENT
    limit = touch.policy.hand_to_ads_after
    if touch.channel is Channel.EMAIL and limit is not None and touch.unengaged_emails >= limit:
        return Reason.HANDED_TO_ADS
    peak = touch.policy.peak
    if (
        peak is not None
        and peak.max_touches is not None
        and peak.active(now)
        and touch.sent_in_enrollment >= peak.max_touches
    ):
        return Reason.PEAK_SEASON
    return None


def _offer_blocked(touch: TouchContext, now: datetime) -> Reason | None:
    if touch.offer is None:
        return None
    if not touch.offer.eligible:
        return Reason.OFFER_INELIGIBLE
    peak = touch.policy.peak
    if peak is not None and peak.pause_discounts and peak.active(now):
        return Reason.PEAK_SEASON
    return None


def stock_plan(items: tuple[ItemStock, ...], now: datetime, rules: StockRules) -> StockPlan:
    """
    Sort the cart's items by what the message may say about them.

    A read older than `rules.max_age` (or none) confirms nothing: the item is shown without a
    claim. A fresh sold-out read leaves the item out. "Only N left" needs a fresh count at or
    under `rules.low_stock_at`.
    """
    available: list[str] = []
    low: dict[str, int] = {}
    unconfirmed: list[str] = []
    left_out: list[str] = []
    for item in items:
        if item.read_at is None or now - item.read_at > rules.max_age:
            unconfirmed.append(item.key)
        elif not item.in_stock or (item.quantity is not None and item.quantity <= 0):
            left_out.append(item.key)
        else:
            available.append(item.key)
            if item.quantity is not None and item.quantity <= rules.low_stock_at:
                low[item.key] = item.quantity
    return StockPlan(
        still_available=tuple(available),
        only_left=low,
        unconfirmed=tuple(unconfirmed),
        left_out=tuple(left_out),
    )


def sending_week(touch: TouchContext) -> Week | None:
    """
    The local hours this touch may go: the configured window for its channel, narrowed for
    SMS by the legal window of the recipient's country and state. `None`: any time.
    """
    configured = touch.policy.quiet_hours.get(touch.channel)
    legal = None
    if touch.channel is Channel.SMS:
        legal = legal_week(touch.locality.country, touch.locality.us_state)
    if configured is None:
        return legal
    if legal is None:
        return every_day(configured)
    return intersect_weeks(every_day(configured), legal)


def _deferral(touch: TouchContext, now: datetime, stock: StockPlan) -> Decision | None:
    rules, cap, week = touch.policy.stock, touch.policy.frequency_cap, sending_week(touch)
    loc = touch.locality
    zones = resolve_zones(loc.phone_zones, loc.address_zone, loc.store_zone) if week else ()
    reasons: list[Reason] = []
    earliest = now
    if touch.claims_availability and not stock.still_available:
        reasons.append(Reason.STALE_STOCK)
        earliest = now + rules.retry_after
    if week is not None and not allowed(now, zones, week):
        reasons.append(Reason.QUIET_HOURS)
    if cap is not None and _cap_clear_from(touch, cap, now) > now:
        reasons.append(Reason.FREQUENCY_CAP)
    if not reasons:
        return None
    # Quiet hours and the cap each move the moment later; repeat until both hold at once.
    # The cap only relaxes as time passes, so this ends after the last counted send ages out.
    until: datetime | None = earliest
    while until is not None:
        if week is not None:
            until = next_allowed(until, zones, week)
            if until is None:
                break
        clear = _cap_clear_from(touch, cap, until) if cap is not None else until
        if clear == until:
            return Defer(until=until, reason=reasons[0])
        until = clear
    return Skip(reason=Reason.QUIET_HOURS)  # the windows never open: nothing to wait for


def _cap_clear_from(touch: TouchContext, cap: FrequencyCap, at: datetime) -> datetime:
    return earliest_slot(touch.recent_sends, limit=cap.messages, per=cap.per, at=at)
