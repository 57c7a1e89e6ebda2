"""
Co-marketing partner programs (issue #7; `cartback partners …`, `/v1/partners`): another
brand's offer for the carts a segment expression selects, with its own eligibility, dates,
expiry and report. A program's codes come from the partner (`pool`: uploaded, each handed out
once) or from the store's own platform (`joint`: created like the store's own offers).

Everything a merchant gives is checked before anything is written, the way a flow file is:
names, expressions (compiled and run against `expressions.SAMPLE`), the offer's kind and value
(the rules of a flow step's offer), dates and codes; every problem is reported at once.

Dispatch picks a step's `partner_offer` with `choose_partner_offer` and, for a pool, gives its
code with `take_pool_code` then `link_pool_code` once the offer row is stored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

import structlog

from cartback.domain.durations import MAX_DURATION
from cartback.domain.errors import Conflict, FieldError, InvalidInput, NotFound
from cartback.domain.expressions import Expression, ExpressionError, compile_expression
from cartback.domain.flows import OfferKind
from cartback.domain.ports import CodeSource, PartnerProgram, UnitOfWork
from cartback.domain.stores import Store
from cartback.domain.time import Clock
from cartback.kit.ids import new_id

log = structlog.get_logger(__name__)

NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
CODE = re.compile(r"[A-Z0-9-]{4,64}")
MAX_PARTNER = 200
MAX_CODES = 100_000
MIN_EXPIRES_IN = timedelta(hours=1)
#: Amounts are stored with four decimal places.
_PLACES = 4
_MAX_AMOUNT = Decimal(10) ** 9
#: Codes a pool may hand out that the store already gave as another offer's code are skipped;
#: this many in a row means something is wrong with the pool.
_CLASHES = 5
_CHANGEABLE = ("enabled", "ends_at", "eligibility", "segment")


@dataclass(frozen=True, kw_only=True, slots=True)
class AddedCodes:
    """
    What an upload did to a pool: new codes, codes it had (or repeated), codes still free.
    """

    added: int
    duplicates: int
    available: int


@dataclass(frozen=True, kw_only=True, slots=True)
class PartnerReport:
    """
    A program's results: codes given and redeemed, the discount orders got with them, and
    what is left of its pool (None for a joint program, which has none).
    """

    name: str
    partner: str
    given: int
    redeemed: int
    discount_total: Decimal
    currency: str
    codes_available: int | None


def create_program(
    *,
    uow: UnitOfWork,
    clock: Clock,
    store_id: str,
    name: str,
    partner: str,
    segment: str,
    eligibility: str | None,
    kind: str,
    value: Decimal | None,
    code_source: str,
    expires_in: timedelta,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    codes: Sequence[str] = (),
) -> PartnerProgram:
    """
    Create a partner program, with its first pool codes when given (one transaction).

    Raises:
        InvalidInput: every bad field (codes by index); nothing is written.
        NotFound: no such store.
        Conflict: the store has a program with this name.
    """
    errors: list[FieldError] = []
    if not NAME.fullmatch(name):
        errors.append(_name_error())
    errors += _partner_errors(partner)
    errors += _expression_errors("segment", segment, required=True)
    errors += _expression_errors("eligibility", eligibility, required=False)
    offer_kind, amount, offer_errors = _checked_offer(kind, value)
    source, source_errors = _checked_source(code_source)
    errors += offer_errors + source_errors + _expiry_errors(expires_in)
    errors += _window_errors(starts_at, ends_at)
    normalised, code_errors = checked_codes(codes, required=False)
    errors += code_errors
    if source is CodeSource.JOINT and codes:
        errors.append(FieldError(path="codes", message="a joint program takes no codes"))
    if errors or offer_kind is None or amount is None or source is None:
        raise InvalidInput("invalid partner program", errors=errors)
    with uow:
        store = _store(uow, store_id)
        now = clock.now()
        program = PartnerProgram(
            id=new_id("pp"),
            store_id=store_id,
            name=name,
            partner=partner.strip(),
            segment=segment.strip(),
            eligibility=eligibility.strip() if eligibility and eligibility.strip() else None,
            kind=offer_kind,
            value=amount,
            currency=store.currency,
            code_source=source,
            expires_in=expires_in,
            starts_at=starts_at,
            ends_at=ends_at,
            enabled=True,
            created_at=now,
            updated_at=now,
        )
        if not uow.partners.add(program):
            raise Conflict(f"the store has a partner program {name!r}")
        added = uow.partners.add_codes(program.id, normalised) if normalised else 0
        uow.commit()
    log.info("partners.created", store_id=store_id, name=name, code_source=source, codes=added)
    return program


def update_program(
    *, uow: UnitOfWork, clock: Clock, store_id: str, name: str, changes: Mapping[str, Any]
) -> PartnerProgram:
    """
    Change a program's `enabled`, `ends_at`, `eligibility` (None: none) or `segment`; keys not
    given keep their value.

    Raises:
        InvalidInput: no change, an unknown key or a bad value; nothing changes.
        NotFound: no such store or program.
    """
    errors = [
        FieldError(path=key, message=f"cannot be changed; change one of {', '.join(_CHANGEABLE)}")
        for key in changes
        if key not in _CHANGEABLE
    ]
    if not changes:
        errors.append(FieldError(path="", message="give at least one change"))
    errors += _change_errors(changes)
    if errors:
        raise InvalidInput("invalid change", errors=errors)
    with uow:
        program = _program(uow, store_id, name)
        values = dict(changes)
        if "segment" in values:
            values["segment"] = values["segment"].strip()
        if "eligibility" in values:
            values["eligibility"] = (values["eligibility"] or "").strip() or None
        if "ends_at" in values:
            window = _window_errors(program.starts_at, values["ends_at"])
            if window:
                raise InvalidInput("invalid change", errors=window)
        program = replace(program, **values, updated_at=clock.now())
        uow.partners.save(program)
        uow.commit()
    log.info("partners.updated", store_id=store_id, name=name, fields=sorted(changes))
    return program


def add_codes(*, uow: UnitOfWork, store_id: str, name: str, codes: Sequence[str]) -> AddedCodes:
    """
    Add codes to a pool program (upper-cased; codes it has are counted as duplicates).

    Raises:
        InvalidInput: no codes, a bad code (each by index), or a joint program; nothing added.
        NotFound: no such store or program.
    """
    normalised, errors = checked_codes(codes, required=True)
    if errors:
        raise InvalidInput("invalid codes", errors=errors)
    with uow:
        program = _program(uow, store_id, name)
        if program.code_source is not CodeSource.POOL:
            message = "a joint program's codes are created on the store's platform"
            raise InvalidInput("invalid codes", errors=[FieldError(path="codes", message=message)])
        added = uow.partners.add_codes(program.id, normalised)
        available = uow.partners.codes_available(program.id)
        uow.commit()
    log.info("partners.codes.added", store_id=store_id, name=name, added=added)
    return AddedCodes(added=added, duplicates=len(normalised) - added, available=available)


def list_programs(*, uow: UnitOfWork, store_id: str) -> list[PartnerProgram]:
    """
    The store's partner programs by name.

    Raises:
        NotFound: no such store.
    """
    with uow:
        _store(uow, store_id)
        return uow.partners.list(store_id)


def get_program(*, uow: UnitOfWork, store_id: str, name: str) -> PartnerProgram:
    """
    One of the store's partner programs.

    Raises:
        NotFound: no such store or program.
    """
    with uow:
        return _program(uow, store_id, name)


def program_report(*, uow: UnitOfWork, store_id: str, name: str) -> PartnerReport:
    """
    A program's codes given and redeemed, the discount on the orders that used them, and the
    codes left in its pool.

    Raises:
        NotFound: no such store or program.
    """
    with uow:
        program = _program(uow, store_id, name)
        totals = uow.partners.totals(store_id, program.source)
        pool = program.code_source is CodeSource.POOL
        available = uow.partners.codes_available(program.id) if pool else None
    return PartnerReport(
        name=program.name,
        partner=program.partner,
        given=totals.given,
        redeemed=totals.redeemed,
        discount_total=totals.discount_total,
        currency=program.currency,
        codes_available=available,
    )


def choose_partner_offer(
    uow: UnitOfWork, store: Store, name: str, values: Mapping[str, Any], now: datetime
) -> PartnerProgram | None:
    """
    The store's program `name` if it applies to a cart now, read in the caller's open unit of
    work: enabled, within its dates, and both its segment and eligibility true on `values`
    (`expressions.activation(cart, contact)`). None otherwise (also for an unknown name).
    """
    program = uow.partners.get(store.id, name)
    if program is None or not program.running_at(now):
        return None
    for source in (program.segment, program.eligibility):
        if source is None:
            continue
        expression = _compiled(source)
        if expression is None or not expression.evaluate(values).matched:
            return None
    return program


def take_pool_code(uow: UnitOfWork, program: PartnerProgram, now: datetime) -> str | None:
    """
    Take one code of a pool program for an offer about to be stored, in the caller's open unit
    of work; None when the pool is empty. Store the offer with this code, then call
    `link_pool_code` (the link is a foreign key to the offer row).
    """
    for _ in range(_CLASHES):
        code = uow.partners.take_code(program.id, now)
        if code is None:
            log.warning("partners.pool.empty", store_id=program.store_id, name=program.name)
            return None
        if uow.offers.by_code(program.store_id, code) is None:
            return code
        # The store gave this code already (another program's pool had it): it stays taken.
        log.warning("partners.code.clash", store_id=program.store_id, name=program.name)
    return None


def link_pool_code(uow: UnitOfWork, program: PartnerProgram, code: str, offer_id: str) -> None:
    """
    Record that a code `take_pool_code` answered went to the offer `offer_id` (now stored).
    """
    uow.partners.link_code(program.id, code, offer_id)


def checked_codes(codes: Sequence[str], *, required: bool) -> tuple[list[str], list[FieldError]]:
    """
    Codes trimmed and upper-cased, and an error (with its index) for each that is not 4 to 64
    letters, digits and dashes.
    """
    errors: list[FieldError] = []
    if required and not codes:
        errors.append(FieldError(path="codes", message="give at least one code"))
    if len(codes) > MAX_CODES:
        errors.append(FieldError(path="codes", message=f"at most {MAX_CODES} codes at once"))
        return [], errors
    normalised = [code.strip().upper() if isinstance(code, str) else "" for code in codes]
    for index, code in enumerate(normalised):
        if not CODE.fullmatch(code):
            message = f"{codes[index]!r}: 4 to 64 letters, digits and dashes"
            errors.append(FieldError(path="codes", message=message, index=index))
    return normalised, errors


@lru_cache(maxsize=512)
def _compiled(source: str) -> Expression | None:
    # Programs are checked when saved; one this version of Cartback refuses is never chosen.
    try:
        return compile_expression(source)
    except ExpressionError:
        return None


def _name_error() -> FieldError:
    message = "lower-case letters, digits and -, at most 64, starting with a letter or digit"
    return FieldError(path="name", message=message)


def _partner_errors(partner: str) -> list[FieldError]:
    text = partner.strip()
    if not text or len(text) > MAX_PARTNER or not text.isprintable():
        message = f"the partner's name: 1 to {MAX_PARTNER} printable characters"
        return [FieldError(path="partner", message=message)]
    return []


def _expression_errors(path: str, source: str | None, *, required: bool) -> list[FieldError]:
    if source is None or not source.strip():
        return [FieldError(path=path, message="an expression is required")] if required else []
    try:
        compile_expression(source)
    except ExpressionError as error:
        return [FieldError(path=path, message=f"bad expression: {error}")]
    return []


def _checked_offer(
    kind: str, value: Decimal | None
) -> tuple[OfferKind | None, Decimal | None, list[FieldError]]:
    try:
        offer_kind = OfferKind(kind.strip().lower())
    except ValueError:
        choices = ", ".join(OfferKind)
        return None, None, [FieldError(path="kind", message=f"{kind!r} is not one of {choices}")]
    amount = Decimal(0) if value is None and offer_kind is OfferKind.FREE_SHIPPING else value
    message = _value_problem(offer_kind, amount)
    if message is not None:
        return offer_kind, None, [FieldError(path="value", message=message)]
    return offer_kind, amount, []


def _value_problem(kind: OfferKind, value: Decimal | None) -> str | None:
    # The same rules as a flow step's offer (`domain.flows`).
    if value is None:
        return f"a {kind} offer needs a value"
    exponent = value.normalize().as_tuple().exponent if value.is_finite() else None
    if not isinstance(exponent, int) or exponent < -_PLACES:
        return f"a finite number with at most {_PLACES} decimal places"
    if kind is OfferKind.PERCENT and not 0 < value <= 100:
        return "a percent offer is more than 0 and at most 100"
    if kind is OfferKind.FIXED and not 0 < value < _MAX_AMOUNT:
        return "a fixed offer is an amount above 0 (store currency)"
    if kind is OfferKind.FREE_SHIPPING and value != 0:
        return "a free_shipping offer takes no value"
    return None


def _checked_source(code_source: str) -> tuple[CodeSource | None, list[FieldError]]:
    try:
        return CodeSource(code_source.strip().lower()), []
    except ValueError:
        message = f"{code_source!r}: pool (the partner's codes) or joint (the store's platform)"
        return None, [FieldError(path="code_source", message=message)]


def _expiry_errors(expires_in: timedelta) -> list[FieldError]:
    if not MIN_EXPIRES_IN <= expires_in <= MAX_DURATION:
        return [FieldError(path="expires_in", message="from 1h to ten years")]
    return []


def _window_errors(starts_at: datetime | None, ends_at: datetime | None) -> list[FieldError]:
    errors = [
        FieldError(path=path, message="give a time zone (or Z)")
        for path, value in (("starts_at", starts_at), ("ends_at", ends_at))
        if value is not None and value.utcoffset() is None
    ]
    if not errors and starts_at is not None and ends_at is not None and ends_at <= starts_at:
        errors.append(FieldError(path="ends_at", message="must be after starts_at"))
    return errors


def _change_errors(changes: Mapping[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    if "enabled" in changes and not isinstance(changes["enabled"], bool):
        errors.append(FieldError(path="enabled", message="true or false"))
    if "segment" in changes:
        segment = changes["segment"]
        if not isinstance(segment, str):
            errors.append(FieldError(path="segment", message="an expression is required"))
        else:
            errors += _expression_errors("segment", segment, required=True)
    if "eligibility" in changes:
        errors += _expression_errors("eligibility", changes["eligibility"], required=False)
    if "ends_at" in changes and changes["ends_at"] is not None:
        errors += _window_errors(None, changes["ends_at"])
    return errors


def _store(uow: UnitOfWork, store_id: str) -> Store:
    store = uow.stores.get(store_id)
    if store is None:
        raise NotFound(f"no store {store_id!r}")
    return store


def _program(uow: UnitOfWork, store_id: str, name: str) -> PartnerProgram:
    _store(uow, store_id)
    program = uow.partners.get(store_id, name) if NAME.fullmatch(name) else None
    if program is None:
        raise NotFound(f"no partner program {name!r} in this store")
    return program
