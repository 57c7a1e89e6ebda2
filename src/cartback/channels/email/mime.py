"""
An email as it goes over the wire: a `multipart/alternative` of the text and the HTML (UTF-8,
quoted-printable), the envelope's headers, and a DKIM signature (`dkimpy`, relaxed/relaxed,
rsa-sha256) when the store has a key.

The signature covers `From`, `To`, `Subject`, `Date`, `Message-ID`, `Reply-To`,
`List-Unsubscribe`, `List-Unsubscribe-Post` (RFC 8058 §4 requires both in a valid signature),
`MIME-Version` and `Content-Type`. The headers a forwarder could add to change what the reader
sees or what one click does are signed once more than they occur ("oversigned", RFC 6376 §8.15),
so adding a second `List-Unsubscribe` breaks the signature as surely as editing the first one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.headerregistry import BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any

import dkim  # type: ignore[import-untyped]

from cartback.domain.ports import DkimKey, EmailEnvelope, OutboundMessage
from cartback.domain.time import check_aware
from cartback.domain.touches import SendFailed

#: Signed in this order when present (`Reply-To` is optional).
SIGNED_HEADERS = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "MIME-Version",
    "Content-Type",
)
#: Signed once more than they occur: another copy added in transit fails the signature.
OVERSIGNED_HEADERS = (
    "From",
    "To",
    "Subject",
    "Reply-To",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
)
ONE_CLICK = "List-Unsubscribe=One-Click"
_URI_SEPARATOR = re.compile(r"(?<=>)\s*,\s*(?=<)")


class _UriListHeader(UnstructuredHeader, BaseHeader):
    """
    `List-Unsubscribe` (RFC 2369: `<uri>, <uri>`), folded only between its URIs. The generic
    folding turns a long URI into RFC 2047 encoded words, which no mail client reads back as a
    link; a URI line stays under the 998-character limit that RFC 5322 sets.
    """

    def fold(self, *, policy: Any) -> str:
        uris = _URI_SEPARATOR.split(str(self).strip())
        separator: str = "," + policy.linesep + " "
        return f"{self.name}: {separator.join(uris)}{policy.linesep}"


def _policy() -> policy.EmailPolicy[EmailMessage]:
    registry = HeaderRegistry()
    registry.map_to_type("list-unsubscribe", _UriListHeader)
    return policy.SMTP.clone(header_factory=registry)


#: CRLF line ends (what SMTP sends and DKIM signs), lines folded at 78 characters.
WIRE_POLICY = _policy()


@dataclass(frozen=True, kw_only=True, slots=True)
class WireMessage:
    """
    A message ready for SMTP: the envelope's addresses (`MAIL FROM`, `RCPT TO`) and the exact
    bytes to send (a DKIM signature is over these bytes, so nothing may re-serialise them).
    """

    mail_from: str
    rcpt_to: str
    data: bytes
    #: The `Message-ID` header, the only id of an SMTP message.
    message_id: str


def build_message(message: OutboundMessage, *, now: datetime) -> EmailMessage:
    """
    The email as a MIME message: text and HTML alternatives and the envelope's headers.

    Raises:
        SendFailed: (permanent) the message is no email (no envelope), or a header is not
            writable (a line break in it, an address that is not ASCII).
    """
    check_aware(now, "now")
    envelope = _envelope(message)
    email = EmailMessage(policy=WIRE_POLICY)
    try:
        email["From"] = envelope.sender
        email["To"] = _ascii_address(message.to)
        email["Subject"] = " ".join((message.subject or "").split())
        email["Date"] = format_datetime(now)
        email["Message-ID"] = envelope.message_id
        if envelope.reply_to:
            email["Reply-To"] = envelope.reply_to
        email["List-Unsubscribe"] = envelope.list_unsubscribe
        email["List-Unsubscribe-Post"] = ONE_CLICK
    except (ValueError, TypeError) as error:
        # The policy refuses line breaks in a header value (header injection) and parts it
        # cannot write; either way the message cannot go as it is.
        raise SendFailed("invalid_header", transient=False, detail=str(error)) from None
    email.set_content(message.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    email.add_alternative(envelope.html, subtype="html", charset="utf-8", cte="quoted-printable")
    for part in email.iter_parts():
        # `add_alternative` gives the moved part a MIME-Version of its own; only the top has one.
        del part["MIME-Version"]
    return email


def wire_message(message: OutboundMessage, *, now: datetime) -> WireMessage:
    """
    The message's bytes as they go out, DKIM-signed when the envelope carries a key.

    Raises:
        SendFailed: (permanent) as `build_message`, or the DKIM key cannot sign.
    """
    email = build_message(message, now=now)
    envelope = _envelope(message)
    data = email.as_bytes(policy=WIRE_POLICY)
    if envelope.dkim is not None:
        data = dkim_sign(data, envelope.dkim) + data
    return WireMessage(
        mail_from=parseaddr(envelope.sender)[1],
        rcpt_to=_ascii_address(message.to),
        data=data,
        message_id=envelope.message_id,
    )


def dkim_sign(data: bytes, key: DkimKey) -> bytes:
    """
    The `DKIM-Signature` header line (CRLF-terminated) for a message's bytes.

    Raises:
        SendFailed: (permanent, `dkim_key`) the key cannot sign (not an RSA private key).
    """
    present = _present_headers(data)
    signed = [h for h in SIGNED_HEADERS if h.lower() in present]
    signed += OVERSIGNED_HEADERS
    try:
        signature: bytes = dkim.sign(
            data,
            key.selector.encode("ascii"),
            key.domain.encode("ascii"),
            key.private_key.encode("ascii"),
            canonicalize=(b"relaxed", b"relaxed"),
            signature_algorithm=b"rsa-sha256",
            include_headers=[h.lower().encode("ascii") for h in signed],
        )
    except (dkim.DKIMException, UnicodeEncodeError, ValueError) as error:
        raise SendFailed("dkim_key", transient=False, detail=str(error)) from None
    return signature


def _present_headers(data: bytes) -> set[str]:
    head = data.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace")
    return {
        line.split(":", 1)[0].strip().lower()
        for line in head.split("\r\n")
        if line and not line[0].isspace()
    }


def _envelope(message: OutboundMessage) -> EmailEnvelope:
    if message.email is None:
        raise SendFailed(
            "no_envelope", transient=False, detail="an email needs its HTML and headers"
        )
    return message.email


def _ascii_address(address: str) -> str:
    """
    The recipient as SMTP without SMTPUTF8 takes it: a non-ASCII domain in its IDNA form.

    Raises:
        SendFailed: (permanent) no address, or a non-ASCII local part.
    """
    text = address.strip()
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        raise SendFailed("no_address", transient=False, detail=f"not an address: {text!r}")
    if not local.isascii():
        raise SendFailed(
            "address_not_ascii", transient=False, detail="the mailbox name needs SMTPUTF8"
        )
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError:
        raise SendFailed("no_address", transient=False, detail=f"bad domain: {domain!r}") from None
