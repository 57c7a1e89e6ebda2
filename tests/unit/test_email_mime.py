"""
The email on the wire (`channels.email.mime`): a multipart/alternative of text and HTML in
UTF-8, the envelope's headers (RFC 8058 one-click unsubscribe included), and a DKIM signature
that `dkimpy` verifies and that any change to a signed header breaks.
"""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage

import dkim
import pytest

from cartback.channels.email.mime import build_message, dkim_sign, wire_message
from cartback.domain.ports import DkimKey
from cartback.domain.touches import SendFailed
from email_support import DKIM_DOMAIN, UNSUBSCRIBE, dkim_dns, outbound_email

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def _parsed(data: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _content(part: EmailMessage) -> str:
    """
    A part's text with the wire's CRLF line ends read back as newlines.
    """
    return str(part.get_content()).replace("\r\n", "\n").rstrip("\n")


def _signature_tags(data: bytes) -> dict[str, str]:
    header = str(_parsed(data)["DKIM-Signature"])
    tags = (part.strip().split("=", 1) for part in header.split(";") if "=" in part)
    return {name.strip(): "".join(value.split()) for name, value in tags}


def test_the_message_has_a_text_and_an_html_part_in_utf8() -> None:
    """
    multipart/alternative with the text first and the HTML last (the preferred one), both
    UTF-8 and read back unchanged.
    """
    # given
    message = outbound_email()

    # when
    parsed = _parsed(wire_message(message, now=NOW).data)

    # then
    assert "multipart/alternative" == parsed.get_content_type()
    parts = list(parsed.iter_parts())
    assert ["text/plain", "text/html"] == [p.get_content_type() for p in parts]
    assert ["utf-8", "utf-8"] == [p.get_content_charset() for p in parts]
    assert message.text == _content(parts[0])
    assert message.email is not None
    assert message.email.html == _content(parts[1])


def test_the_message_carries_the_envelope_headers() -> None:
    """
    From, To, Subject, Date, Message-ID, Reply-To, both List-Unsubscribe headers and
    MIME-Version, each as the envelope says.
    """
    # given
    message = outbound_email()

    # when
    parsed = _parsed(wire_message(message, now=NOW).data)

    # then
    assert "Café Shop <orders@shop.example.com>" == str(parsed["From"])
    assert "shopper@example.org" == str(parsed["To"])
    assert "You left something behind" == str(parsed["Subject"])
    assert "Fri, 27 Nov 2026 10:00:00 +0000" == str(parsed["Date"])
    assert "<tch_0123456789abcdefghjkm@shop.example.com>" == str(parsed["Message-ID"])
    assert "help@shop.example.com" == str(parsed["Reply-To"])
    assert UNSUBSCRIBE == str(parsed["List-Unsubscribe"])
    assert "List-Unsubscribe=One-Click" == str(parsed["List-Unsubscribe-Post"])
    assert "1.0" == str(parsed["MIME-Version"])


def test_a_long_unsubscribe_header_is_folded_between_its_uris_never_encoded() -> None:
    """
    Mail clients read `List-Unsubscribe` as URIs: it must never become RFC 2047 encoded words.
    """
    # when
    data = wire_message(outbound_email(), now=NOW).data

    # then
    head = data.split(b"\r\n\r\n", 1)[0].decode()
    line = head[head.index("List-Unsubscribe:") :].split("\r\nList-Unsubscribe-Post")[0]
    assert "=?" not in line
    assert line.startswith("List-Unsubscribe: <https://")
    assert ",\r\n <mailto:" in line


def test_a_subject_in_japanese_and_emoji_survives_the_wire() -> None:
    """
    A non-ASCII subject is encoded for SMTP and decodes to the same words.
    """
    # given
    subject = "カートに商品が残っています 🛒 مرحبا"

    # when
    data = wire_message(outbound_email(subject=subject), now=NOW).data

    # then
    assert data.isascii()
    assert subject == str(_parsed(data)["Subject"])


def test_a_line_break_in_a_header_is_refused_not_sent() -> None:
    """
    Header injection: a sender with a line break fails the message permanently.
    """
    # given
    message = outbound_email(envelope_sender="Shop <a@shop.example.com>\r\nBcc: x@evil.example")

    # when
    with pytest.raises(SendFailed) as raised:
        build_message(message, now=NOW)

    # then
    assert "invalid_header" == raised.value.reason
    assert not raised.value.transient


def test_an_email_without_its_envelope_is_refused() -> None:
    """
    A message with no HTML or headers is no email: permanent `no_envelope`.
    """
    # when
    with pytest.raises(SendFailed) as raised:
        wire_message(outbound_email(email=None), now=NOW)

    # then
    assert ("no_envelope", False) == (raised.value.reason, raised.value.transient)


def test_the_dkim_signature_verifies_with_the_published_key() -> None:
    """
    `dkimpy` verifies the signature against the TXT record at `s1._domainkey.<domain>`.
    """
    # when
    data = wire_message(outbound_email(), now=NOW).data

    # then
    assert data.startswith(b"DKIM-Signature: ")
    assert dkim.verify(data, dnsfunc=dkim_dns)


def test_the_signature_is_relaxed_rsa_sha256_over_the_unsubscribe_headers() -> None:
    """
    c=relaxed/relaxed, a=rsa-sha256, d= the store's domain, and h= with every header the
    brief names, the one-click pair included (RFC 8058 §4), plus oversigned copies.
    """
    # when
    tags = _signature_tags(wire_message(outbound_email(), now=NOW).data)

    # then
    assert "relaxed/relaxed" == tags["c"]
    assert "rsa-sha256" == tags["a"]
    assert DKIM_DOMAIN == tags["d"]
    assert "s1" == tags["s"]
    signed = tags["h"].split(":")
    for name in (
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "reply-to",
        "list-unsubscribe",
        "list-unsubscribe-post",
        "mime-version",
        "content-type",
    ):
        assert name in signed
    assert 2 == signed.count("list-unsubscribe")


@pytest.mark.parametrize(
    ("original", "tampered"),
    [
        (b"<mailto:help@shop.example.com", b"<mailto:evil@shop.example.com"),
        (b"List-Unsubscribe=One-Click", b"List-Unsubscribe=One-Clack"),
        (b"Subject: You left something behind", b"Subject: You left nothing behind"),
    ],
    ids=["list-unsubscribe", "list-unsubscribe-post", "subject"],
)
def test_changing_a_signed_header_breaks_the_signature(original: bytes, tampered: bytes) -> None:
    """
    A forwarder that rewrites the unsubscribe target (or the subject) fails DKIM.
    """
    # given
    data = wire_message(outbound_email(), now=NOW).data
    assert original in data

    # when
    changed = data.replace(original, tampered)

    # then
    assert not dkim.verify(changed, dnsfunc=dkim_dns)


def test_adding_a_second_unsubscribe_header_breaks_the_signature() -> None:
    """
    Oversigning: a List-Unsubscribe added on top of the signed one fails DKIM too.
    """
    # given
    data = wire_message(outbound_email(), now=NOW).data
    head, body = data.split(b"\r\n\r\n", 1)

    # when
    changed = head + b"\r\nList-Unsubscribe: <https://evil.example/u>\r\n\r\n" + body

    # then
    assert not dkim.verify(changed, dnsfunc=dkim_dns)


def test_without_a_key_the_message_is_not_signed() -> None:
    """
    A store without DKIM sends plain MIME.
    """
    # when
    data = wire_message(outbound_email(signed=False), now=NOW).data

    # then
    assert b"DKIM-Signature" not in data


def test_a_key_that_is_no_rsa_key_fails_the_message_permanently() -> None:
    """
    A broken key is the store's configuration: `dkim_key`, never a crash.
    """
    # given
    key = DkimKey(domain=DKIM_DOMAIN, selector="s1", private_key="not a key")

    # when
    with pytest.raises(SendFailed) as raised:
        dkim_sign(b"From: a@b.example\r\n\r\nhi\r\n", key)

    # then
    assert ("dkim_key", False) == (raised.value.reason, raised.value.transient)


def test_an_internationalised_domain_goes_out_in_its_ascii_form() -> None:
    """
    The recipient's IDN domain is written as IDNA (`xn--`) for SMTP without SMTPUTF8.
    """
    # when
    wire = wire_message(outbound_email(to="kunde@bücher.example"), now=NOW)

    # then
    assert "kunde@xn--bcher-kva.example" == wire.rcpt_to
    assert "orders@shop.example.com" == wire.mail_from


def test_a_non_ascii_mailbox_name_is_refused_permanently() -> None:
    """
    A local part outside ASCII needs SMTPUTF8, which this channel does not speak.
    """
    # when
    with pytest.raises(SendFailed) as raised:
        wire_message(outbound_email(to="müller@example.org"), now=NOW)

    # then
    assert ("address_not_ascii", False) == (raised.value.reason, raised.value.transient)
