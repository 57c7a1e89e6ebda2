"""
Offers (issue #7): discount codes given to an enrollment, only where the merchant's rules allow.

A code's life:

1. The dispatch pass, deciding a touch whose step carries an offer, checks the rules
   (`domain.offers.eligibility`) and writes the offer `pending` (a platform with an API must
   create it first) or `active` (a custom site, which asks `GET /v1/offers/{code}`; a partner's
   pooled code). Any older live offer of the enrollment is `superseded`: offers never stack.
   The touch waits (`offer_pending`) while the code is pending, at most `OFFER_WAIT`; then it
   goes without the offer (`offer_failed`) and the code is `superseded`, never shown.
2. The worker's offer pass (`create_pending_offers`) asks the platform outside any
   transaction and records the answer: `active`, `failed` with the platform's reason, or
   `pending` again after `retry_after` for a rate limit or an outage.
3. The same code goes in every channel of the enrollment (steps with the same offer share it).
4. An order that used the code marks it `redeemed` with what the discount took off (reports
   read it). Unused codes past their expiry, and superseded ones, are removed from the
   platform by the worker (`revoke_offers`) and end `revoked`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal

import structlog

from cartback.domain.catalog import find_item, line_keys
from cartback.domain.discounts import (
    GIVEN,
    STORE_SOURCE,
    DiscountError,
    DiscountPlatform,
    DiscountSpec,
    OfferStatus,
)
from cartback.domain.errors import NotFound
from cartback.domain.expressions import activation
from cartback.domain.flows import Offer, OfferKind, Step
from cartback.domain.offers import (
    OfferFacts,
    OfferItem,
    OfferRules,
    eligibility,
    expiry,
    new_code,
    normalise_code,
    offer_key,
)
from cartback.domain.ports import (
    CartRecord,
    CodeSource,
    Contact,
    EnrollmentRecord,
    OfferRecord,
    PartnerProgram,
    UnitOfWork,
    UnitOfWorkFactory,
)
from cartback.domain.stores import Store
from cartback.domain.time import Clock
from cartback.kit.ids import new_id
from cartback.services.enrollment import cart_facts, contact_facts, store_flows
from cartback.services.offer_settings import offer_rules
from cartback.services.partners import choose_partner_offer, link_pool_code, take_pool_code

log = structlog.get_logger(__name__)

#: How long a touch waits for its platform to create the code before it goes without it.
OFFER_WAIT = timedelta(minutes=2)
_TOO_LATE = "the platform did not answer within the wait; the message went without the code"
#: How soon a touch waiting for its code is looked at again.
OFFER_RECHECK = timedelta(seconds=2)
#: After a transient platform error without `Retry-After`.
DEFAULT_RETRY = timedelta(seconds=30)
#: A code that failed this many times for transient reasons fails for good.
MAX_ATTEMPTS = 5
#: Draws before giving up on an unused code (50 random bits: a second draw is already rare).
_CODE_DRAWS = 8


class OfferPlatforms:
    """
    The discount API of each store's platform (None: codes live in Cartback only), built
    once per version of the store's settings.
    """

    def __init__(self, factory: Callable[[Store], DiscountPlatform | None]) -> None:
        self._factory = factory
        self._cache: dict[str, tuple[datetime, DiscountPlatform | None]] = {}
        # The process's worker loops share the clients.
        self._lock = threading.Lock()

    def for_store(self, store: Store) -> DiscountPlatform | None:
        with self._lock:
            cached = self._cache.get(store.id)
            if cached is not None and cached[0] == store.updated_at:
                return cached[1]
            if cached is not None:
                _close(cached[1])  # the store's settings changed: its old client goes
            platform = self._factory(store)
            self._cache[store.id] = (store.updated_at, platform)
            return platform

    def close(self) -> None:
        """
        Release every client's connections.
        """
        with self._lock:
            for _, platform in self._cache.values():
                _close(platform)
            self._cache.clear()


def _close(platform: DiscountPlatform | None) -> None:
    close = getattr(platform, "close", None)
    if callable(close):
        close()


NO_PLATFORMS = OfferPlatforms(lambda _store: None)


@dataclass(frozen=True, kw_only=True, slots=True)
class TouchOffer:
    """
    What a touch's message may carry: the offer when it is live now, else why not.
    `wait` is true while the platform has not answered yet (the touch should wait a little).
    """

    offer: OfferRecord | None = None
    eligible: bool = True
    reason: str | None = None
    wait: bool = False
    #: The co-marketing partner's name, when the code is theirs.
    partner: str | None = None


def offer_facts(
    uow: UnitOfWork,
    store: Store,
    contact: Contact,
    record: CartRecord,
    rules: OfferRules,
    now: datetime,
    *,
    enrollment_offers: Sequence[OfferRecord] = (),
) -> OfferFacts:
    """
    The cart, its items' sale prices and costs from the catalog, and the contact's history,
    as the offer rules read them; `enrollment_offers` are the codes this enrollment was given
    already (read once by the caller).
    """
    lines = [line for line in record.cart.lines if line.quantity > 0]
    keys = [key for line in lines for key in line_keys(line)]
    catalog = uow.catalog.get_many(store.id, keys) if keys else {}
    items = []
    for line in lines:
        item = find_item(line, catalog)
        items.append(
            OfferItem(
                key=line_keys(line)[0],
                quantity=line.quantity,
                unit_price=line.unit_price if line.unit_price is not None else Decimal(0),
                product_id=line.product_id,
                variant_id=line.variant_id,
                sku=line.sku,
                category=line.category or (item.category if item is not None else None),
                compare_at_price=item.compare_at_price if item is not None else None,
                cost=item.cost if item is not None else None,
            )
        )
    since = now - rules.window
    # This enrollment's own codes are one offer to the person, not several.
    mine = sum(1 for o in enrollment_offers if o.created_at >= since and o.status in GIVEN)
    given = uow.offers.given_since(store.id, contact.id, since) - mine
    person = contact_facts(uow, store, contact)
    return OfferFacts(
        total=record.cart.total,
        currency=record.cart.currency,
        items=tuple(items),
        orders_count=person.orders_count,
        given_recently=max(given, 0),
        values=activation(cart_facts(record), person),
    )


def touch_offer(
    *,
    uow: UnitOfWork,
    store: Store,
    enrollment: EnrollmentRecord,
    record: CartRecord,
    contact: Contact,
    step: Step,
    step_index: int,
    platform: DiscountPlatform | None,
    now: datetime,
) -> TouchOffer | None:
    """
    The offer a touch of this step shows, giving the enrollment its code if it has none yet
    (in the caller's transaction): the store's own offer (`offer`) or a co-marketing
    partner's (`partner_offer`). None when the step carries neither.
    """
    if step.offer is not None:
        key = offer_key(step.offer)
    elif step.partner_offer is not None:
        key = f"partner:{step.partner_offer}"
    else:
        return None
    earlier = uow.offers.for_enrollment(enrollment.id)
    found = next((o for o in earlier if o.offer_key == key), None)
    if found is not None and _waited_too_long(found, now):
        # The message goes without it: a code the platform makes after this is never shown,
        # so it is superseded now and the revoke pass removes it once its answer comes.
        uow.offers.save(
            replace(
                found,
                status=OfferStatus.SUPERSEDED,
                reason=found.reason or _TOO_LATE,
                updated_at=now,
            )
        )
        log.warning("offer.wait.over", store_id=store.id, offer_id=found.id)
        return TouchOffer(eligible=False, reason="offer_failed")
    if found is not None:
        return _state(found, now, partner=_partner_name(uow, found))
    terms = (
        _store_terms(uow, store, enrollment, record, contact, step.offer, key, now, earlier)
        if step.offer is not None
        else _partner_terms(uow, store, enrollment, record, contact, key, now)
    )
    if isinstance(terms, TouchOffer):
        log.info(
            "offer.ineligible", store_id=store.id, enrollment_id=enrollment.id, reason=terms.reason
        )
        return terms
    given = _give(
        uow=uow,
        enrollment=enrollment,
        terms=terms,
        pending=platform is not None and terms.on_platform,
        step_index=step_index,
        now=now,
        earlier=earlier,
    )
    if given is None:
        return TouchOffer(eligible=False, reason="no_code")
    return _state(given, now, partner=terms.partner)


@dataclass(frozen=True, kw_only=True, slots=True)
class _Terms:
    """
    What an enrollment's new code gives, for how long, and where it comes from.
    """

    kind: OfferKind
    value: Decimal
    currency: str
    source: str
    key: str
    expires_at: datetime
    prefix: str = ""
    #: Created on the store's platform (the store's own offers and joint partner discounts).
    on_platform: bool = True
    #: A partner's pooled code, already taken from the pool (linked to the offer once stored).
    pooled: str | None = None
    program: PartnerProgram | None = None
    partner: str | None = None
    estimated_discount: Decimal = Decimal(0)


def _store_terms(
    uow: UnitOfWork,
    store: Store,
    enrollment: EnrollmentRecord,
    record: CartRecord,
    contact: Contact,
    spec: Offer,
    key: str,
    now: datetime,
    earlier: Sequence[OfferRecord],
) -> _Terms | TouchOffer:
    rules = offer_rules(store)
    facts = offer_facts(uow, store, contact, record, rules, now, enrollment_offers=earlier)
    verdict = eligibility(spec, rules, facts)
    if not verdict.eligible:
        return TouchOffer(eligible=False, reason=verdict.reason)
    expires_at = expiry(spec, rules, now, ends_by=enrollment.triggered_at + store.recovery_window)
    if expires_at <= now:
        return TouchOffer(eligible=False, reason="enrollment_over")
    return _Terms(
        kind=spec.kind,
        value=spec.value,
        currency=store.currency,
        source=STORE_SOURCE,
        key=key,
        expires_at=expires_at,
        prefix=rules.prefix,
        estimated_discount=verdict.discount,
    )


def _partner_terms(
    uow: UnitOfWork,
    store: Store,
    enrollment: EnrollmentRecord,
    record: CartRecord,
    contact: Contact,
    key: str,
    now: datetime,
) -> _Terms | TouchOffer:
    """
    A partner program's terms, when its segment and eligibility hold for this cart and
    person now (a pool code is taken here, in the caller's transaction).
    """
    name = key.removeprefix("partner:")
    values = activation(cart_facts(record), contact_facts(uow, store, contact))
    program = choose_partner_offer(uow, store, name, values, now)
    if program is None:
        return TouchOffer(eligible=False, reason="partner_ineligible")
    ends = [now + program.expires_in, enrollment.triggered_at + store.recovery_window]
    if program.ends_at is not None:
        ends.append(program.ends_at)
    expires_at = min(ends)
    if expires_at <= now:
        return TouchOffer(eligible=False, reason="enrollment_over")
    pooled = None
    if program.code_source is CodeSource.POOL:
        pooled = take_pool_code(uow, program, now)
        if pooled is None:
            return TouchOffer(eligible=False, reason="partner_codes_used_up")
    return _Terms(
        kind=program.kind,
        value=program.value,
        currency=program.currency,
        source=program.source,
        key=key,
        expires_at=expires_at,
        prefix=offer_rules(store).prefix,
        on_platform=program.code_source is CodeSource.JOINT,
        pooled=pooled,
        program=program,
        partner=program.partner,
    )


def _partner_name(uow: UnitOfWork, offer: OfferRecord) -> str | None:
    if not offer.source.startswith("partner:"):
        return None
    program = uow.partners.get(offer.store_id, offer.source.removeprefix("partner:"))
    return program.partner if program is not None else None


def _give(
    *,
    uow: UnitOfWork,
    enrollment: EnrollmentRecord,
    terms: _Terms,
    pending: bool,
    step_index: int,
    now: datetime,
    earlier: Sequence[OfferRecord],
) -> OfferRecord | None:
    """
    Store the enrollment's new code (drawn, or the partner's pooled one) and supersede its
    older live codes: offers never stack.
    """
    for older in earlier:
        if older.status in (OfferStatus.PENDING, OfferStatus.ACTIVE):
            uow.offers.save(replace(older, status=OfferStatus.SUPERSEDED, updated_at=now))
    for _ in range(1 if terms.pooled else _CODE_DRAWS):
        candidate = OfferRecord(
            id=new_id("of"),
            store_id=enrollment.store_id,
            code=terms.pooled or new_code(prefix=terms.prefix),
            kind=terms.kind,
            value=terms.value,
            currency=terms.currency,
            source=terms.source,
            offer_key=terms.key,
            enrollment_id=enrollment.id,
            contact_id=enrollment.contact_id,
            cart_id=enrollment.cart_id,
            flow=enrollment.flow,
            step=step_index,
            status=OfferStatus.PENDING if pending else OfferStatus.ACTIVE,
            expires_at=terms.expires_at,
            created_at=now,
            updated_at=now,
        )
        stored = uow.offers.add(candidate)
        if stored is not None:
            if terms.pooled and terms.program is not None:
                link_pool_code(uow, terms.program, terms.pooled, stored.id)
            log.info(
                "offer.given",
                store_id=enrollment.store_id,
                offer_id=stored.id,
                enrollment_id=enrollment.id,
                source=stored.source,
                kind=stored.kind.value,
                estimated_discount=str(terms.estimated_discount),
            )
            return stored
    log.error("offer.code_not_stored", store_id=enrollment.store_id, source=terms.source)
    return None


def _waited_too_long(offer: OfferRecord, now: datetime) -> bool:
    return offer.status is OfferStatus.PENDING and now >= offer.created_at + OFFER_WAIT


def _state(offer: OfferRecord, now: datetime, *, partner: str | None = None) -> TouchOffer:
    if offer.valid_at(now):
        return TouchOffer(offer=offer, partner=partner)
    if offer.status is OfferStatus.PENDING:
        return TouchOffer(wait=True, reason="offer_pending")
    if offer.status is OfferStatus.FAILED:
        return TouchOffer(eligible=False, reason="offer_failed")
    return TouchOffer(eligible=False, reason=f"offer_{offer.status.value}")


@dataclass(kw_only=True, slots=True)
class OfferPassReport:
    """
    What one offer pass did, by outcome.
    """

    outcomes: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    @property
    def processed(self) -> int:
        return sum(self.outcomes.values())


def create_pending_offers(
    *, uow_factory: UnitOfWorkFactory, clock: Clock, platforms: OfferPlatforms, limit: int = 50
) -> OfferPassReport:
    """
    Ask each pending offer's platform to create its code (outside any transaction), then
    record the answer. Two workers may ask for the same code; the platform refuses the second
    as a duplicate and only the first answer is recorded.
    """
    report = OfferPassReport()
    with uow_factory(read_only=True) as uow:
        waiting = uow.offers.waiting(now=clock.now(), limit=limit)
        work = [(o, uow.stores.get(o.store_id), _email(uow, o), _spec(uow, o)) for o in waiting]
    for offer, store, email, step_offer in work:
        if store is None:
            continue
        platform = platforms.for_store(store)
        if platform is None:
            # The store's API access was removed after the code was written: Cartback alone
            # honours it (a custom site's way).
            _finish(uow_factory, clock, offer, status=OfferStatus.ACTIVE)
            report.count("active")
            continue
        spec = DiscountSpec(
            code=offer.code,
            kind=offer.kind,
            value=offer.value,
            currency=offer.currency,
            title=f"Cartback {offer.flow} {offer.code}",
            starts_at=min(offer.created_at, clock.now()),
            expires_at=offer.expires_at,
            minimum_subtotal=step_offer.min_total if step_offer is not None else None,
            customer_email=email,
            exclude_sale_items=step_offer is not None and "on_sale" in step_offer.exclude,
        )
        try:
            reference = platform.create(spec)
        except DiscountError as error:
            outcome = _after_error(uow_factory, clock, offer, error)
            report.count(outcome)
            continue
        _finish(uow_factory, clock, offer, status=OfferStatus.ACTIVE, reference=reference)
        log.info(
            "offer.created", store_id=offer.store_id, offer_id=offer.id, platform=platform.name
        )
        report.count("active")
    return report


def _spec(uow: UnitOfWork, offer: OfferRecord) -> Offer | None:
    """
    The flow step's offer the code was given for (its minimum and exclusions), if the flow
    still has that step.
    """
    flow = store_flows(uow, offer.store_id).flow(offer.flow)
    if flow is None or offer.step >= len(flow.steps):
        return None
    return flow.steps[offer.step].offer


def _email(uow: UnitOfWork, offer: OfferRecord) -> str | None:
    contact = uow.contacts.get(offer.store_id, offer.contact_id)
    return contact.email if contact is not None else None


def _after_error(
    uow_factory: UnitOfWorkFactory, clock: Clock, offer: OfferRecord, error: DiscountError
) -> str:
    now = clock.now()
    attempts = offer.attempts + 1
    if error.transient and attempts < MAX_ATTEMPTS and now < offer.created_at + OFFER_WAIT:
        wait = timedelta(seconds=error.retry_after) if error.retry_after else DEFAULT_RETRY
        _finish(
            uow_factory,
            clock,
            offer,
            status=OfferStatus.PENDING,
            reason=error.reason,
            retry_at=now + wait,
            attempts=attempts,
        )
        log.warning("offer.create.retry", offer_id=offer.id, reason=error.reason)
        return "retry"
    _finish(
        uow_factory, clock, offer, status=OfferStatus.FAILED, reason=error.reason, attempts=attempts
    )
    log.warning("offer.create.failed", offer_id=offer.id, reason=error.reason)
    return "failed"


def _finish(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    offer: OfferRecord,
    *,
    status: OfferStatus,
    reference: str | None = None,
    reason: str | None = None,
    retry_at: datetime | None = None,
    attempts: int | None = None,
) -> None:
    """
    Record a platform's answer on the offer if it is still waiting for one (a superseded
    offer keeps that status; its fresh reference lets the revoke pass remove it).
    """
    with uow_factory() as uow:
        current = uow.offers.get(offer.id)
        if current is None:
            return
        now = clock.now()
        changed = replace(
            current,
            platform_ref=reference or current.platform_ref,
            reason=reason[:200] if reason else current.reason,
            retry_at=retry_at,
            attempts=attempts if attempts is not None else current.attempts,
            updated_at=now,
        )
        if current.status is OfferStatus.PENDING:
            changed = replace(changed, status=status)
        elif current.status is OfferStatus.REVOKED and reference and not current.platform_ref:
            # Revoked while the platform was still making it: revoke the code it made, too.
            changed = replace(changed, status=OfferStatus.SUPERSEDED, revoked_at=None)
        uow.offers.save(changed)
        uow.commit()


def revoke_offers(
    *, uow_factory: UnitOfWorkFactory, clock: Clock, platforms: OfferPlatforms, limit: int = 50
) -> OfferPassReport:
    """
    Remove unused codes past their expiry, and superseded ones, from their platform; each
    ends `revoked`. A platform that cannot answer now is asked again later.
    """
    report = OfferPassReport()
    with uow_factory(read_only=True) as uow:
        due = uow.offers.to_revoke(now=clock.now(), limit=limit)
        work = [(o, uow.stores.get(o.store_id)) for o in due]
    for offer, store in work:
        platform = platforms.for_store(store) if store is not None else None
        if platform is not None and offer.platform_ref:
            try:
                platform.revoke(offer.platform_ref)
            except DiscountError as error:
                wait = timedelta(seconds=error.retry_after or DEFAULT_RETRY.total_seconds())
                _mark(uow_factory, clock, offer, OfferStatus.EXPIRED, retry_at=clock.now() + wait)
                log.warning("offer.revoke.failed", offer_id=offer.id, reason=error.reason)
                report.count("retry")
                continue
        _mark(uow_factory, clock, offer, OfferStatus.REVOKED)
        report.count("revoked")
    return report


def _mark(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    offer: OfferRecord,
    status: OfferStatus,
    *,
    retry_at: datetime | None = None,
) -> None:
    with uow_factory() as uow:
        current = uow.offers.get(offer.id)
        if current is None or current.status is OfferStatus.REDEEMED:
            return  # an order used it meanwhile: it stays redeemed
        now = clock.now()
        uow.offers.save(
            replace(
                current,
                status=status,
                retry_at=retry_at,
                revoked_at=now if status is OfferStatus.REVOKED else None,
                updated_at=now,
            )
        )
        uow.commit()


@dataclass(frozen=True, kw_only=True, slots=True)
class OfferLookup:
    """
    A code as a custom site checks it (`GET /v1/offers/{code}`).
    """

    offer: OfferRecord
    valid: bool
    #: The platform's own cart id (what `GET /v1/carts/{cart_id}` takes).
    cart_key: str | None


def look_up_offer(*, uow: UnitOfWork, store_id: str, code: str, now: datetime) -> OfferLookup:
    """
    The store's offer with this code and whether it can be used now.

    Raises:
        NotFound: the store gave no such code.
    """
    with uow:
        offer = uow.offers.by_code(store_id, normalise_code(code))
        cart_key = uow.touches.cart_key(offer.cart_id) if offer is not None else None
    if offer is None:
        raise NotFound("no offer with this code")
    return OfferLookup(offer=offer, valid=offer.valid_at(now), cart_key=cart_key)


__all__ = [
    "NO_PLATFORMS",
    "OFFER_RECHECK",
    "OFFER_WAIT",
    "OfferLookup",
    "OfferPassReport",
    "OfferPlatforms",
    "TouchOffer",
    "create_pending_offers",
    "look_up_offer",
    "offer_facts",
    "revoke_offers",
    "touch_offer",
]
