"""
A store's Twilio account: the SID, the auth token (sealed with the service's secret key, as
poller credentials are), the sender and the answer to HELP. The inbound webhook verifies
signatures with the token; the SMS channel sends with the same credentials.

Kept in the store's settings document:

    {"twilio": {"account_sid": "AC…", "auth_token": "<sealed>", "from": "+14155550100",
     "help_text": "Shop: cart reminders. Reply STOP to opt out. Msg & data rates may apply.",
     "segment_budget": 2, "segment_price": "0.0083", "price_currency": "USD"}}

The segment budget is how long a recovery text may be (longer ones are shortened, never split
into more parts); the price per segment and its currency give each text's cost estimate. They
can be set with the account or on their own (`configure_sms_pricing`).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation

import structlog

from cartback.domain.errors import ConfigurationError, FieldError, InvalidInput, NotFound
from cartback.domain.ports import UnitOfWork
from cartback.domain.send_rate import DEFAULT_RATES, SenderKind, SendRate
from cartback.domain.stores import Store
from cartback.domain.time import Clock
from cartback.kit.keys import SecretBox
from cartback.kit.normalise import normalise_phone

log = structlog.get_logger(__name__)

#: The key of the section in the store's settings.
SECTION = "twilio"
#: Two SMS segments: a HELP answer should fit in one message, and must never be a wall.
MAX_HELP_TEXT = 320
#: A short code's ceiling is far above this; a higher setting is almost surely a typo.
MAX_SENDER_RATE = 1000
_ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
_MESSAGING_SERVICE_SID = re.compile(r"MG[0-9a-fA-F]{32}")
_TOKEN = re.compile(r"[\x21-\x7e]{16,128}")
_CURRENCY = re.compile(r"[A-Z]{3}")

#: Two segments by default: room for a human sentence, the link and the opt-out notice.
DEFAULT_SEGMENT_BUDGET = 2
MAX_SEGMENT_BUDGET = 10
#: Twilio's US price per outbound SMS segment (long code), the estimate until a store sets its own.
DEFAULT_SEGMENT_PRICE = Decimal("0.0083")
DEFAULT_PRICE_CURRENCY = "USD"
#: A segment never costs this much; a higher price is almost surely a typo.
MAX_SEGMENT_PRICE = Decimal(10)
#: Costs are stored with four decimal places (`Money`), so prices have at most four.
PRICE_PLACES = 4


@dataclass(frozen=True, kw_only=True, slots=True)
class SmsCredentials:
    """
    A store's Twilio account, opened: what sending and verifying need.
    """

    store: Store
    account_sid: str | None
    auth_token: str
    sender: str | None
    help_text: str


@dataclass(frozen=True, kw_only=True, slots=True)
class SmsPricing:
    """
    How long a store's texts may be (`segment_budget` segments) and what a segment costs.
    """

    segment_budget: int = DEFAULT_SEGMENT_BUDGET
    segment_price: Decimal = DEFAULT_SEGMENT_PRICE
    price_currency: str = DEFAULT_PRICE_CURRENCY


def default_help_text(store: Store) -> str:
    """
    The HELP answer until the merchant writes one: the brand, what the texts are, where to get
    help, how to stop, and the rates notice (what CTIA asks a HELP answer to carry).
    """
    where = store.domains[0] if store.domains else store.name
    return (
        f"{store.name}: cart reminder texts, at most one per cart left behind. "
        f"Help: {where}. Reply STOP to opt out. Msg & data rates may apply."
    )


def configure_sms(
    *,
    uow: UnitOfWork,
    clock: Clock,
    box: SecretBox,
    store_id: str,
    account_sid: str,
    auth_token: str,
    sender: str | None = None,
    help_text: str | None = None,
    sender_kind: str | None = None,
    sender_rate: int | None = None,
    segment_budget: int | None = None,
    segment_price: Decimal | str | None = None,
    price_currency: str | None = None,
) -> Store:
    """
    Set a store's Twilio account (the token sealed at rest). A sender, help text, budget or
    price not given keeps the one configured before.

    Raises:
        NotFound: no such store.
        InvalidInput: a malformed SID, token, sender, help text, budget or price.
    """
    values, errors = _checked(account_sid, auth_token, sender, help_text)
    pacing, pacing_errors = _pacing(sender_kind, sender_rate)
    errors.extend(pacing_errors)
    pricing, pricing_errors = _pricing(segment_budget, segment_price, price_currency)
    errors.extend(pricing_errors)
    pacing.update(pricing)
    if errors:
        raise InvalidInput("invalid SMS configuration", errors=errors)
    with uow:
        store = uow.stores.get(store_id)
        if store is None:
            raise NotFound(f"no store {store_id!r}")
        settings = copy.deepcopy(store.settings)
        section = settings.get(SECTION)
        merged = dict(section) if isinstance(section, dict) else {}
        merged.update({k: v for k, v in values.items() if v is not None})
        merged.update(pacing)
        merged["auth_token"] = box.seal(values["auth_token"] or "")
        settings[SECTION] = merged
        store = replace(store, settings=settings, updated_at=clock.now())
        uow.stores.save(store)
        uow.commit()
    log.info("sms.configured", store_id=store_id)
    return store


def _checked(
    account_sid: str, auth_token: str, sender: str | None, help_text: str | None
) -> tuple[dict[str, str | None], list[FieldError]]:
    errors: list[FieldError] = []
    sid = account_sid.strip()
    if not _ACCOUNT_SID.fullmatch(sid):
        errors.append(FieldError(path="account_sid", message="must be AC followed by 32 hex"))
    token = auth_token.strip()
    if not _TOKEN.fullmatch(token):
        errors.append(FieldError(path="auth_token", message="must be 16 to 128 visible characters"))
    values: dict[str, str | None] = {"account_sid": sid, "auth_token": token}
    values["from"], error = _sender(sender)
    errors.extend(error)
    text = help_text.strip() if help_text is not None else None
    if text is not None and not 1 <= len(text) <= MAX_HELP_TEXT:
        errors.append(FieldError(path="help_text", message=f"must be 1 to {MAX_HELP_TEXT} chars"))
    values["help_text"] = text
    return values, errors


def _pacing(kind: str | None, rate: int | None) -> tuple[dict[str, object], list[FieldError]]:
    """
    The sender's kind and its own rate (segments per second), when given.
    """
    values: dict[str, object] = {}
    errors: list[FieldError] = []
    if kind is not None:
        try:
            values["sender_kind"] = SenderKind(kind.strip().lower()).value
        except ValueError:
            choices = ", ".join(k.value for k in SenderKind)
            errors.append(FieldError(path="sender_kind", message=f"must be one of {choices}"))
    if rate is not None:
        if not 1 <= rate <= MAX_SENDER_RATE:
            message = f"must be 1 to {MAX_SENDER_RATE} segments per second"
            errors.append(FieldError(path="sender_rate", message=message))
        else:
            values["sender_rate"] = rate
    return values, errors


def configure_sms_pricing(
    *,
    uow: UnitOfWork,
    clock: Clock,
    store_id: str,
    segment_budget: int | None = None,
    segment_price: Decimal | str | None = None,
    price_currency: str | None = None,
) -> Store:
    """
    Set a store's segment budget, price per segment or its currency without touching its
    Twilio account; what is not given stays.

    Raises:
        NotFound: no such store.
        InvalidInput: a budget outside 1 to 10, a malformed price or currency, or nothing given.
    """
    values, errors = _pricing(segment_budget, segment_price, price_currency)
    if not values and not errors:
        errors.append(FieldError(path="segment_budget", message="give a budget, price or currency"))
    if errors:
        raise InvalidInput("invalid SMS pricing", errors=errors)
    with uow:
        store = uow.stores.get(store_id)
        if store is None:
            raise NotFound(f"no store {store_id!r}")
        settings = copy.deepcopy(store.settings)
        section = settings.get(SECTION)
        merged = dict(section) if isinstance(section, dict) else {}
        merged.update(values)
        settings[SECTION] = merged
        store = replace(store, settings=settings, updated_at=clock.now())
        uow.stores.save(store)
        uow.commit()
    log.info("sms.pricing.configured", store_id=store_id)
    return store


def _pricing(
    budget: int | None, price: Decimal | str | None, currency: str | None
) -> tuple[dict[str, object], list[FieldError]]:
    """
    The budget, price (kept as a string: the settings document is JSON) and currency given.
    """
    values: dict[str, object] = {}
    errors: list[FieldError] = []
    if budget is not None:
        if not 1 <= budget <= MAX_SEGMENT_BUDGET:
            message = f"must be 1 to {MAX_SEGMENT_BUDGET} segments"
            errors.append(FieldError(path="segment_budget", message=message))
        else:
            values["segment_budget"] = budget
    if price is not None:
        amount = _price(price)
        if amount is None:
            message = f"must be 0 to {MAX_SEGMENT_PRICE} with at most {PRICE_PLACES} decimals"
            errors.append(FieldError(path="segment_price", message=message))
        else:
            values["segment_price"] = str(amount)
    if currency is not None:
        code = currency.strip().upper()
        if not _CURRENCY.fullmatch(code):
            errors.append(FieldError(path="price_currency", message="must be an ISO 4217 code"))
        else:
            values["price_currency"] = code
    return values, errors


def _price(raw: Decimal | str) -> Decimal | None:
    try:
        amount = Decimal(raw.strip()) if isinstance(raw, str) else Decimal(raw)
    except InvalidOperation:
        return None
    if not amount.is_finite() or not Decimal(0) <= amount <= MAX_SEGMENT_PRICE:
        return None
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -PRICE_PLACES:
        return None
    return amount


def sms_pricing(store: Store) -> SmsPricing:
    """
    The store's segment budget and price per segment; the defaults for what is not set.
    """
    section = store.settings.get(SECTION)
    section = section if isinstance(section, dict) else {}
    budget = section.get("segment_budget")
    price = (
        _price(section["segment_price"]) if isinstance(section.get("segment_price"), str) else None
    )
    currency = section.get("price_currency")
    return SmsPricing(
        segment_budget=budget
        if isinstance(budget, int) and 1 <= budget <= MAX_SEGMENT_BUDGET
        else DEFAULT_SEGMENT_BUDGET,
        segment_price=price if price is not None else DEFAULT_SEGMENT_PRICE,
        price_currency=currency if isinstance(currency, str) else DEFAULT_PRICE_CURRENCY,
    )


def sending_pace(store: Store) -> tuple[str, SendRate]:
    """
    The store's SMS sender (its number or Messaging Service; the store when none is set) and
    the rate its carrier allows: the configured rate, else the default of its kind (a long code
    unless told otherwise).
    """
    section = store.settings.get(SECTION)
    section = section if isinstance(section, dict) else {}
    sender = _text(section.get("from")) or "default"
    rate = section.get("sender_rate")
    if isinstance(rate, int) and rate >= 1:
        return f"{store.id}:{sender}", SendRate(segments=rate)
    kind = section.get("sender_kind")
    known = kind if isinstance(kind, str) and kind in set(SenderKind) else SenderKind.LONG_CODE
    return f"{store.id}:{sender}", DEFAULT_RATES[SenderKind(known)]


def _sender(raw: str | None) -> tuple[str | None, list[FieldError]]:
    if raw is None:
        return None, []
    text = raw.strip()
    if _MESSAGING_SERVICE_SID.fullmatch(text):
        return text, []
    try:
        return normalise_phone(text), []
    except ValueError as error:
        message = f"{error} (or a Messaging Service SID, MG…)"
        return None, [FieldError(path="from", message=message)]


def sms_credentials(
    *, uow: UnitOfWork, box: SecretBox, store_id: str, fallback_token: str | None = None
) -> SmsCredentials:
    """
    A store's Twilio account, with the auth token opened. A store with none configured uses
    `fallback_token` (the service-wide `CARTBACK_TWILIO_AUTH_TOKEN`) when there is one.

    Raises:
        NotFound: no such store.
        ConfigurationError: the store has no Twilio account and there is no fallback.
    """
    with uow:
        store = uow.stores.get(store_id)
    if store is None:
        raise NotFound(f"no store {store_id!r}")
    section = store.settings.get(SECTION)
    section = section if isinstance(section, dict) else {}
    sealed = section.get("auth_token")
    if isinstance(sealed, str):
        token = box.open(sealed)
    elif fallback_token:
        token = fallback_token
    else:
        raise ConfigurationError(
            f"store {store_id} has no Twilio account; run "
            f"`cartback sms configure --store {store_id} --account-sid AC… --auth-token …`"
        )
    help_text = section.get("help_text")
    return SmsCredentials(
        store=store,
        account_sid=_text(section.get("account_sid")),
        auth_token=token,
        sender=_text(section.get("from")),
        help_text=help_text if isinstance(help_text, str) else default_help_text(store),
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
