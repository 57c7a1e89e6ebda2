"""
Lead capture as data: the widgets a merchant switches on, how a shopper gave a detail, and the
per-store capture settings kept in the store's settings document under `capture`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

#: Where a store keeps its capture settings, in its `settings` document.
CAPTURE_SETTING = "capture"
MAX_TEXT = 2000
MAX_TEXTS = 500
_LOCALE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}")
_TEXT_KEY = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")


class Widget(StrEnum):
    """
    Where on the storefront a contact detail was asked for.
    """

    CART_PAGE = "cart_page"
    CHECKOUT_BUTTON = "checkout_button"
    CART_DRAWER = "cart_drawer"
    CHECKOUT = "checkout"
    POST_ABANDON = "post_abandon"
    EXIT_INTENT = "exit_intent"


#: Every widget is on until the merchant says otherwise, except exit intent (intrusive).
DEFAULT_WIDGETS: Mapping[Widget, bool] = {w: w is not Widget.EXIT_INTENT for w in Widget}


class CaptureAction(StrEnum):
    """
    How the shopper gave the detail. Only these count: autofill alone never does.
    """

    #: Typed into a Cartback widget and submitted.
    SUBMITTED = "submitted"
    #: Typed into the store's own checkout field and left there as a valid address.
    CHECKOUT_FIELD = "checkout_field"


class CookieConsent(StrEnum):
    """
    The store's cookie-banner answer, as the snippet read it.
    """

    GRANTED = "granted"
    DENIED = "denied"


def opts_out_of_ads(*, gpc_header: bool, gpc: bool, cookie_consent: CookieConsent | None) -> bool:
    """
    True when the browser said no to ads: Global Privacy Control (`Sec-GPC: 1` or
    `navigator.globalPrivacyControl`), or a denied cookie consent.
    """
    return gpc_header or gpc or cookie_consent is CookieConsent.DENIED


@dataclass(frozen=True, kw_only=True, slots=True)
class CaptureSettings:
    """
    A store's capture settings: which widgets show, whether SMS and marketing opt-ins are
    offered, and the merchant's own wording by locale and text key (the widget has defaults).
    """

    widgets: Mapping[Widget, bool] = field(default_factory=lambda: dict(DEFAULT_WIDGETS))
    sms_enabled: bool = False
    marketing: bool = True
    texts: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @classmethod
    def from_document(cls, document: Any) -> CaptureSettings:
        """
        Read the settings from a store's `capture` entry, ignoring what does not fit (an
        entry written by a newer version, or edited by hand), so a storefront never breaks.
        """
        if not isinstance(document, Mapping):
            return cls()
        stored = document.get("widgets")
        widgets = dict(DEFAULT_WIDGETS)
        if isinstance(stored, Mapping):
            widgets.update({Widget(k): v for k, v in stored.items() if _is_widget_flag(k, v)})
        return cls(
            widgets=widgets,
            sms_enabled=document.get("sms_enabled") is True,
            marketing=document.get("marketing") is not False,
            texts=_texts_from(document.get("texts")),
        )

    def to_document(self) -> dict[str, Any]:
        """
        The `capture` entry to store.
        """
        return {
            "widgets": {w.value: self.widgets[w] for w in Widget},
            "sms_enabled": self.sms_enabled,
            "marketing": self.marketing,
            "texts": {locale: dict(texts) for locale, texts in sorted(self.texts.items())},
        }

    def evolve(self, change: CaptureChange) -> CaptureSettings:
        """
        These settings with a change applied; a text set to None goes back to the default.
        """
        texts = {locale: dict(values) for locale, values in self.texts.items()}
        for (locale, key), text in change.texts.items():
            if text is None:
                texts.get(locale, {}).pop(key, None)
            else:
                texts.setdefault(locale, {})[key] = text
        return replace(
            self,
            widgets={**self.widgets, **change.widgets},
            sms_enabled=self.sms_enabled if change.sms_enabled is None else change.sms_enabled,
            marketing=self.marketing if change.marketing is None else change.marketing,
            texts={locale: values for locale, values in texts.items() if values},
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class CaptureChange:
    """
    What a merchant changes; None and absent keys leave a setting as it is.
    """

    widgets: Mapping[Widget, bool] = field(default_factory=dict)
    sms_enabled: bool | None = None
    marketing: bool | None = None
    #: (locale, text key) → the merchant's words, or None to use the widget's default again.
    texts: Mapping[tuple[str, str], str | None] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        return (
            not self.widgets
            and self.sms_enabled is None
            and self.marketing is None
            and (not self.texts)
        )


def canonical_locale(raw: str) -> str:
    """
    A BCP 47 tag in its usual case (`de-DE`, `zh-Hant-TW`), so the widget finds it.

    Raises:
        ValueError: not a language tag.
    """
    if not _LOCALE.fullmatch(raw):
        raise ValueError(f"{raw!r} is not a language tag such as de or de-DE")
    language, *subtags = raw.split("-")
    cased = [s.upper() if len(s) == 2 else s.title() if len(s) == 4 else s for s in subtags]
    return "-".join([language.lower(), *cased])


def check_text_key(raw: str) -> str:
    """
    A text key as the widget names its strings (`cart_page.email.label`).

    Raises:
        ValueError: not a key.
    """
    if not _TEXT_KEY.fullmatch(raw):
        raise ValueError(
            f"{raw!r} is not a text key: lower-case letters, digits, '_', '.', '-', up to 64"
        )
    return raw


def check_text(raw: str) -> str:
    """
    Words to show: not blank, at most `MAX_TEXT` characters.

    Raises:
        ValueError: blank or too long.
    """
    if not raw.strip():
        raise ValueError("must not be blank")
    if len(raw) > MAX_TEXT:
        raise ValueError(f"must be at most {MAX_TEXT} characters")
    if "\x00" in raw:
        raise ValueError("must not contain NUL characters")
    return raw


def _is_widget_flag(key: object, value: object) -> bool:
    return isinstance(key, str) and key in set(Widget) and isinstance(value, bool)


def _texts_from(stored: object) -> dict[str, dict[str, str]]:
    if not isinstance(stored, Mapping):
        return {}
    return {
        str(locale): {str(k): v for k, v in values.items() if isinstance(v, str)}
        for locale, values in stored.items()
        if isinstance(values, Mapping)
    }
