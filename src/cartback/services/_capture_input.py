"""
The body of `POST /v1/capture`, checked field by field into a `Submission`: every problem is
reported at once with its path (`email`, `consents[0].text`), and nothing is kept that the
contract does not name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, TypeVar

from cartback.domain.capture import (
    MAX_TEXT,
    CaptureAction,
    CookieConsent,
    Widget,
    canonical_locale,
)
from cartback.domain.consent import Channel, Purpose
from cartback.domain.errors import FieldError, InvalidInput
from cartback.kit.normalise import normalise_email, normalise_phone

MAX_ID = 255
MAX_EMAIL = 320
MAX_PHONE = 40
MAX_VERSION = 64
MAX_LOCALE = 35
MAX_CONSENTS = 4
#: `writeKey` authenticates; `website` is the honeypot, checked before anything else.
_FIELDS = frozenset(
    {
        "writeKey",
        "anonymous_id",
        "cart_id",
        "email",
        "phone",
        "action",
        "widget",
        "consents",
        "locale",
        "gpc",
        "cookie_consent",
        "website",
    }
)
_CONSENT_FIELDS = frozenset({"channel", "purpose", "granted", "text", "text_version", "source"})

E = TypeVar("E", bound=StrEnum)


@dataclass(frozen=True, kw_only=True, slots=True)
class ConsentInput:
    """
    One opt-in as the shopper answered it, with the exact words shown.
    """

    channel: Channel
    purpose: Purpose
    granted: bool
    text: str
    text_version: str | None
    source: Widget


@dataclass(frozen=True, kw_only=True, slots=True)
class Submission:
    """
    A checked capture: the email lower-cased, the phone in E.164, the locale in its usual case.
    """

    anonymous_id: str
    cart_id: str | None
    email: str | None
    phone: str | None
    action: CaptureAction
    widget: Widget
    consents: tuple[ConsentInput, ...]
    locale: str | None
    gpc: bool
    cookie_consent: CookieConsent | None


def is_honeypot(document: Mapping[str, Any]) -> bool:
    """
    True when the hidden `website` field holds anything: people never see it, robots fill it.
    """
    return document.get("website") not in (None, "")


def parse_submission(document: Mapping[str, Any], *, default_region: str | None) -> Submission:
    """
    Check a capture body. Phone numbers without a country code are read in `default_region`.

    Raises:
        InvalidInput: with every invalid field.
    """
    check = _Checker(document)
    check.unknown(document, _FIELDS, prefix="")
    email = check.optional("email", _email)
    phone = check.optional("phone", lambda v: _phone(v, default_region))
    if "email" not in check.failed and "phone" not in check.failed and not (email or phone):
        check.fail("email", "give an email address or a phone number")
    submission = Submission(
        anonymous_id=check.required("anonymous_id", lambda v: _text(v, MAX_ID)) or "",
        cart_id=check.optional("cart_id", lambda v: _text(v, MAX_ID)),
        email=email,
        phone=phone,
        action=check.required("action", _action) or CaptureAction.SUBMITTED,
        widget=check.required("widget", lambda v: _choice(v, Widget)) or Widget.CART_PAGE,
        consents=(),
        locale=check.optional("locale", _locale),
        gpc=check.optional("gpc", _flag) or False,
        cookie_consent=check.optional("cookie_consent", lambda v: _choice(v, CookieConsent)),
    )
    consents = _consents(check, submission)
    if check.errors:
        raise InvalidInput("the capture is not valid", errors=check.errors)
    return replace(submission, consents=consents)


class _Checker:
    """
    Reads fields and collects what is wrong with them.
    """

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        self.errors: list[FieldError] = []
        self.failed: set[str] = set()

    def fail(self, path: str, message: str) -> None:
        self.errors.append(FieldError(path=path, message=message))
        self.failed.add(path)

    def unknown(self, document: Mapping[str, Any], known: frozenset[str], *, prefix: str) -> None:
        for name in sorted(set(document) - known):
            self.fail(f"{prefix}{name}", "unknown field")

    def required(self, name: str, read: Callable[[Any], Any], *, path: str = "") -> Any:
        return self._read(name, read, path=path or name, required=True)

    def optional(self, name: str, read: Callable[[Any], Any], *, path: str = "") -> Any:
        return self._read(name, read, path=path or name, required=False)

    def _read(self, name: str, read: Callable[[Any], Any], *, path: str, required: bool) -> Any:
        value = self.document.get(name)
        if value is None or (not required and value == ""):
            if required:
                self.fail(path, "is required")
            return None
        try:
            return read(value)
        except ValueError as error:
            self.fail(path, str(error))
            return None


def _consents(check: _Checker, submission: Submission) -> tuple[ConsentInput, ...]:
    raw = check.document.get("consents")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        check.fail("consents", "must be a list")
        return ()
    if len(raw) > MAX_CONSENTS:
        check.fail("consents", f"at most {MAX_CONSENTS} (one per channel and purpose)")
        return ()
    found: list[ConsentInput] = []
    for index, item in enumerate(raw):
        consent = _consent(check, f"consents[{index}]", item, submission)
        if consent is None:
            continue
        if any((c.channel, c.purpose) == (consent.channel, consent.purpose) for c in found):
            message = f"a second answer for {consent.channel} {consent.purpose}"
            check.fail(f"consents[{index}]", message)
            continue
        found.append(consent)
    return tuple(found)


def _consent(check: _Checker, path: str, item: Any, submission: Submission) -> ConsentInput | None:
    if not isinstance(item, dict):
        check.fail(path, "must be an object")
        return None
    before = len(check.errors)
    check.unknown(item, _CONSENT_FIELDS, prefix=f"{path}.")
    item_check = _Checker(item)
    channel = item_check.required("channel", lambda v: _choice(v, Channel), path=f"{path}.channel")
    purpose = item_check.required("purpose", lambda v: _choice(v, Purpose), path=f"{path}.purpose")
    granted = item_check.required("granted", _flag, path=f"{path}.granted")
    text = item_check.required("text", _shown_text, path=f"{path}.text")
    version = item_check.optional(
        "text_version", lambda v: _text(v, MAX_VERSION), path=f"{path}.text_version"
    )
    source = item_check.optional("source", lambda v: _choice(v, Widget), path=f"{path}.source")
    check.errors.extend(item_check.errors)
    if channel is Channel.EMAIL and not submission.email and "email" not in check.failed:
        check.fail(f"{path}.channel", "an email consent needs an email address")
    if channel is Channel.SMS and not submission.phone and "phone" not in check.failed:
        check.fail(f"{path}.channel", "an SMS consent needs a phone number")
    if len(check.errors) > before:
        return None
    return ConsentInput(
        channel=channel,
        purpose=purpose,
        granted=granted,
        text=text,
        text_version=version,
        source=source or submission.widget,
    )


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value


def _text(value: Any, limit: int) -> str:
    text = _string(value)
    if not text.strip():
        raise ValueError("must not be blank")
    if len(text) > limit or not text.isprintable():
        raise ValueError(f"must be at most {limit} printable characters")
    return text


def _shown_text(value: Any) -> str:
    text = _string(value)
    if not text.strip():
        raise ValueError("must be the exact words shown; it is blank")
    if len(text) > MAX_TEXT:
        raise ValueError(f"must be at most {MAX_TEXT} characters")
    if "\x00" in text:
        raise ValueError("must not contain NUL characters")
    return text


def _email(value: Any) -> str:
    text = _string(value)
    if len(text) > MAX_EMAIL:
        raise ValueError(f"must be at most {MAX_EMAIL} characters")
    return normalise_email(text)


def _phone(value: Any, default_region: str | None) -> str:
    text = _string(value)
    if len(text) > MAX_PHONE:
        raise ValueError(f"must be at most {MAX_PHONE} characters")
    return normalise_phone(text, default_region=default_region)


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _choice(value: Any, kind: type[E]) -> E:
    text = _string(value)
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"must be one of {', '.join(k.value for k in kind)}") from None


def _action(value: Any) -> CaptureAction:
    text = _string(value)
    try:
        return CaptureAction(text)
    except ValueError:
        raise ValueError(
            "must be submitted or checkout_field: a detail the shopper did not type and submit "
            "(browser autofill alone) is never captured"
        ) from None


def _locale(value: Any) -> str:
    text = _string(value)
    if len(text) > MAX_LOCALE:
        raise ValueError(f"must be at most {MAX_LOCALE} characters")
    return canonical_locale(text)
