"""
Identity rules: which contact an event belongs to, and which visitors are robots.

Crawlers are kept and flagged, never blocked: Google Shopping needs its StoreBot to walk the
checkout, but a merchant must never message it or count its carts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cartback.domain.events import IdentityClaims

_BOT_USER_AGENT = re.compile(
    r"storebot|googlebot|google-inspectiontool|adsbot|mediapartners-google|apis-google|"
    r"feedfetcher|bingbot|bingpreview|slurp|duckduckbot|baiduspider|yandex(bot|images)|"
    r"facebookexternalhit|facebookcatalog|meta-externalagent|twitterbot|linkedinbot|"
    r"pinterestbot|applebot|petalbot|semrushbot|ahrefsbot|mj12bot|dotbot|bytespider|"
    r"gptbot|claudebot|ccbot|amazonbot|headlesschrome|phantomjs|lighthouse|"
    r"pingdom|uptimerobot|python-requests|curl/|wget/|\bbot\b|crawler|spider",
    re.IGNORECASE,
)
#: Google's shopping crawler checks out with addresses at these domains.
_BOT_EMAIL_DOMAINS = ("storebotmail.joonix.net", "storebotmail.com")


def is_bot_user_agent(user_agent: str | None) -> bool:
    """
    True for crawlers, monitors and headless browsers that announce themselves.
    """
    return bool(user_agent) and bool(_BOT_USER_AGENT.search(user_agent or ""))


def is_bot_email(email: str | None) -> bool:
    """
    True for addresses Google's StoreBot uses when it walks a checkout.
    """
    if not email:
        return False
    domain = email.rsplit("@", 1)[-1].lower()
    return any(domain == d or domain.endswith("." + d) for d in _BOT_EMAIL_DOMAINS)


@dataclass(frozen=True, kw_only=True, slots=True)
class ContactRef:
    """
    The identifiers an existing contact holds.
    """

    id: str
    user_id: str | None = None
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class IdentityResolution:
    """
    What to do with a claim: use `contact_id` (or create a contact when it is None), set
    `updates` on it, and leave `conflicts` alone because another contact already holds them.
    """

    contact_id: str | None
    updates: dict[str, str] = field(default_factory=dict)
    conflicts: tuple[str, ...] = ()


def resolve_identity(
    claims: IdentityClaims,
    *,
    by_user_id: ContactRef | None,
    by_email: ContactRef | None,
    by_phone: ContactRef | None,
) -> IdentityResolution:
    """
    Pick the contact a claim belongs to and the identifiers to add to it.

    The external user id is the strongest identifier, then email, then phone. Two existing
    contacts are never merged silently: an identifier another contact holds is reported as a
    conflict and left where it is. Only a contact found by its user id may have an email or
    phone replaced (the user changed it); a contact found by email or phone only gains the
    identifiers it lacks, so a shared phone cannot move someone's email.
    """
    primary = by_user_id or by_email or by_phone
    wanted = {"user_id": claims.user_id, "email": claims.email, "phone": claims.phone}
    holders = {"user_id": by_user_id, "email": by_email, "phone": by_phone}
    if primary is not None and _another_account(claims, primary):
        # A different account using an email or phone another account holds is another
        # person (or a shared address): a contact of its own, never the other account's.
        taken = tuple(n for n in ("email", "phone") if wanted[n] and holders[n] is not None)
        fields = {k: v for k, v in wanted.items() if v and k not in taken}
        return IdentityResolution(contact_id=None, updates=fields, conflicts=taken)
    if primary is None:
        return IdentityResolution(contact_id=None, updates={k: v for k, v in wanted.items() if v})
    updates: dict[str, str] = {}
    conflicts: list[str] = []
    for name, value in wanted.items():
        if not value or getattr(primary, name) == value:
            continue
        holder = holders[name]
        replaceable = primary is by_user_id and name != "user_id"
        if holder is not None and holder.id != primary.id:
            conflicts.append(name)
        elif getattr(primary, name) is None or replaceable:
            updates[name] = value
        else:
            conflicts.append(name)
    return IdentityResolution(contact_id=primary.id, updates=updates, conflicts=tuple(conflicts))


def _another_account(claims: IdentityClaims, primary: ContactRef) -> bool:
    """
    True when the claim names an account and the contact found belongs to a different one.
    """
    return bool(claims.user_id and primary.user_id and primary.user_id != claims.user_id)
