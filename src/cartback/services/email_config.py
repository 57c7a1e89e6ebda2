"""
A store's email identity: who its emails come from (`From`, `Reply-To`), the DKIM key they are
signed with, and the secret its email provider signs bounce and complaint webhooks with. The
DKIM private key and the webhook secret are sealed with the service's secret key, as the Twilio
token is.

Kept in the store's settings document:

    {"email": {"from": "Shop <orders@shop.example>", "reply_to": "help@shop.example",
     "dkim_selector": "s1", "dkim_key": "<sealed PEM>", "webhook_secret": "<sealed whsec_…>"}}

Without a `from`, a store's emails come from "<store name> <no-reply@<its first domain>>".
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
from dataclasses import dataclass, replace
from email.headerregistry import Address
from email.utils import parseaddr

import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cartback.domain.errors import FieldError, InvalidInput, NotFound, Unauthenticated
from cartback.domain.ports import DkimKey, UnitOfWork
from cartback.domain.stores import Store
from cartback.domain.time import Clock
from cartback.kit.keys import SecretBox
from cartback.kit.normalise import normalise_email

log = structlog.get_logger(__name__)

#: The key of the section in the store's settings.
SECTION = "email"
#: Receivers refuse shorter RSA keys (RFC 8301); 2048 bits is what to generate.
MIN_DKIM_BITS = 1024
MAX_PEM = 16 * 1024
MAX_DISPLAY_NAME = 100
WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 - how such secrets are written, not a secret
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_FALLBACK_DOMAIN = "localhost"
_NAME_ADDR = re.compile(r"(?P<name>[^<>]*)<(?P<addr>[^<>]+)>")


@dataclass(frozen=True, kw_only=True, slots=True)
class EmailIdentity:
    """
    How a store's emails are addressed and signed: the `From` (`sender`) and its bare
    `address`, a `Reply-To`, the domain of `Message-ID`s (the sender's), and the DKIM key.
    """

    sender: str
    address: str
    reply_to: str | None
    message_domain: str
    dkim: DkimKey | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class DkimRecord:
    """
    The DNS TXT record that publishes a DKIM key: `name` (`s1._domainkey.shop.example`) and
    `value` (`v=DKIM1; k=rsa; p=…`).
    """

    name: str
    value: str


@dataclass(frozen=True, kw_only=True, slots=True)
class EmailSettingsView:
    """
    A store's email settings as they may be shown: no key, no secret, only whether they are set
    (and the DNS record of the key).
    """

    sender: str
    reply_to: str | None
    dkim_selector: str | None
    dkim_record: DkimRecord | None
    webhook_secret_set: bool


def configure_email(
    *,
    uow: UnitOfWork,
    clock: Clock,
    box: SecretBox,
    store_id: str,
    sender: str | None = None,
    reply_to: str | None = None,
    dkim_selector: str | None = None,
    dkim_key_pem: str | None = None,
    webhook_secret: str | None = None,
) -> Store:
    """
    Set some of a store's email settings; what is not given keeps its value. A DKIM selector and
    key go together. Every bad field is reported, and nothing changes then.

    Raises:
        InvalidInput: nothing given, or a malformed address, selector, key or secret.
        NotFound: no such store.
    """
    values, errors = _checked(sender, reply_to, dkim_selector, dkim_key_pem, webhook_secret)
    if errors:
        raise InvalidInput("invalid email settings", errors=errors)
    if not values:
        raise InvalidInput("nothing to change; give at least one email setting")
    with uow:
        store = uow.stores.get(store_id)
        if store is None:
            raise NotFound(f"no store {store_id!r}")
        settings = copy.deepcopy(store.settings)
        section = settings.get(SECTION)
        merged = dict(section) if isinstance(section, dict) else {}
        for name in ("dkim_key", "webhook_secret"):
            if name in values:
                values[name] = box.seal(values[name])
        merged.update(values)
        settings[SECTION] = merged
        store = replace(store, settings=settings, updated_at=clock.now())
        uow.stores.save(store)
        uow.commit()
    log.info("email.configured", store_id=store_id, fields=sorted(values))
    return store


def email_identity(store: Store, box: SecretBox) -> EmailIdentity:
    """
    The store's email identity, its DKIM key opened (None when it has none).
    """
    section = _section(store)
    sender = _text(section.get("from")) or default_sender(store)
    address = parseaddr(sender)[1]
    domain = address.rpartition("@")[2].lower() or _FALLBACK_DOMAIN
    selector = _text(section.get("dkim_selector"))
    sealed = _text(section.get("dkim_key"))
    dkim = None
    if selector and sealed:
        dkim = DkimKey(domain=domain, selector=selector, private_key=box.open(sealed))
    return EmailIdentity(
        sender=sender,
        address=address,
        reply_to=_text(section.get("reply_to")),
        message_domain=domain,
        dkim=dkim,
    )


def default_sender(store: Store) -> str:
    """
    "<store name> <no-reply@<first store domain>>" for a store that named no sender.
    """
    domain = store.domains[0] if store.domains else _FALLBACK_DOMAIN
    return str(Address(display_name=store.name, addr_spec=f"no-reply@{domain}"))


def email_settings(store: Store, box: SecretBox) -> EmailSettingsView:
    """
    What may be shown of the store's email settings.
    """
    section = _section(store)
    identity = email_identity(store, box)
    return EmailSettingsView(
        sender=identity.sender,
        reply_to=identity.reply_to,
        dkim_selector=identity.dkim.selector if identity.dkim else None,
        dkim_record=dkim_record(identity.dkim) if identity.dkim else None,
        webhook_secret_set=isinstance(section.get("webhook_secret"), str),
    )


def dkim_record(key: DkimKey) -> DkimRecord:
    """
    The TXT record receivers look the key up by: the public half, base64 DER.
    """
    private = serialization.load_pem_private_key(key.private_key.encode("ascii"), password=None)
    public = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return DkimRecord(
        name=f"{key.selector}._domainkey.{key.domain}",
        value=f"v=DKIM1; k=rsa; p={base64.b64encode(public).decode('ascii')}",
    )


def email_webhook_secrets(*, uow: UnitOfWork, box: SecretBox, store_id: str) -> list[str]:
    """
    The secrets a store's email provider signs webhooks with, opened.

    Raises:
        NotFound: no such store.
        Unauthenticated: the store has no webhook secret, so no delivery can be verified.
    """
    with uow:
        store = uow.stores.get(store_id)
    if store is None:
        raise NotFound(f"no store {store_id!r}")
    sealed = _text(_section(store).get("webhook_secret"))
    if sealed is None:
        raise Unauthenticated(
            f"store {store_id} has no email webhook secret; run `cartback email configure "
            f"--store {store_id} --webhook-secret whsec_…`"
        )
    return [box.open(sealed)]


def _checked(
    sender: str | None,
    reply_to: str | None,
    selector: str | None,
    key_pem: str | None,
    webhook_secret: str | None,
) -> tuple[dict[str, str], list[FieldError]]:
    values: dict[str, str] = {}
    errors: list[FieldError] = []
    checks = (
        ("from", sender, _sender),
        ("reply_to", reply_to, _reply_to),
        ("dkim_selector", selector, _selector),
        ("dkim_key", key_pem, _private_key),
        ("webhook_secret", webhook_secret, _webhook_secret),
    )
    for name, raw, check in checks:
        if raw is None:
            continue
        try:
            values[name] = check(raw)
        except ValueError as error:
            errors.append(FieldError(path=name, message=str(error)))
    if (selector is None) != (key_pem is None):
        errors.append(FieldError(path="dkim_selector", message="give the selector and the key"))
    return values, errors


def _sender(raw: str) -> str:
    """
    `Name <address>` or a bare address, written back as a `From` header value.
    """
    text = raw.strip()
    if any(c in text for c in "\r\n\x00"):
        raise ValueError("must be one line")
    # Read leniently ("Shop, Inc. <…>" has an unquoted comma) and written back quoted.
    found = _NAME_ADDR.fullmatch(text)
    name, address = (found["name"].strip('"').strip(), found["addr"]) if found else ("", text)
    try:
        checked = normalise_email(address)
    except ValueError:
        raise ValueError("must be an address, e.g. 'Shop <orders@shop.example>'") from None
    if len(name) > MAX_DISPLAY_NAME:
        raise ValueError(f"the name must be at most {MAX_DISPLAY_NAME} characters")
    return str(Address(display_name=name, addr_spec=checked)) if name else checked


def _reply_to(raw: str) -> str:
    text = raw.strip()
    if any(c in text for c in "\r\n\x00"):
        raise ValueError("must be one line")
    return normalise_email(text)


def _selector(raw: str) -> str:
    text = raw.strip()
    if not _LABEL.fullmatch(text):
        raise ValueError("must be a DNS label: letters, digits and inner hyphens, at most 63")
    return text


def _private_key(raw: str) -> str:
    """
    An RSA private key in PEM, written back as unencrypted PKCS#8.
    """
    if len(raw) > MAX_PEM:
        raise ValueError("is too long for a PEM key")
    try:
        key = serialization.load_pem_private_key(raw.strip().encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError):
        raise ValueError("must be an unencrypted RSA private key in PEM") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("must be an RSA private key (DKIM here signs rsa-sha256)")
    if key.key_size < MIN_DKIM_BITS:
        raise ValueError(f"must have at least {MIN_DKIM_BITS} bits (2048 recommended)")
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem.decode("ascii")


def _webhook_secret(raw: str) -> str:
    text = raw.strip()
    encoded = text.removeprefix(WEBHOOK_SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not text.startswith(WEBHOOK_SECRET_PREFIX) or not key:
        raise ValueError("must be the provider's signing secret, whsec_ and base64")
    return text


def _section(store: Store) -> dict[str, object]:
    section = store.settings.get(SECTION)
    return section if isinstance(section, dict) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
