"""
The SMTP channel against a real SMTP server (aiosmtpd) on 127.0.0.1 that requires STARTTLS with
a self-signed certificate made here and AUTH (LOGIN or PLAIN): the mail arrives as multipart
text and HTML with its headers and a DKIM signature that verifies; sends share one connection,
survive a server restart, and fail transiently (4xx, timeouts, refused connections) or
permanently (5xx) as SMTP means them.
"""

from __future__ import annotations

import asyncio
import email
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import dkim
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from cartback.channels.email.smtp import SmtpChannel, SmtpConfig, parse_smtp_url
from cartback.domain.errors import ConfigurationError
from cartback.domain.touches import SendFailed, StatusUnknown
from cartback.engine.clock import SimulatedClock
from email_support import dkim_dns, outbound_email

HOST = "127.0.0.1"
USER = "cartback@shop.example.com"
PASSWORD = "p@ss:word/with%signs"


@dataclass
class Mailbox:
    """
    What the server received, and the refusals it gives on demand (`refuse["RCPT"] =
    "550 …"`).
    """

    messages: list[tuple[Envelope, str]] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    logins: list[str] = field(default_factory=list)
    #: Seconds to keep the client waiting for the answer to its message (after taking it).
    stall_after_data: float = 0.0

    async def handle_MAIL(  # noqa: N802 - aiosmtpd's hook names
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if "MAIL" in self.refuse:
            return self.refuse["MAIL"]
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(  # noqa: N802
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if "RCPT" in self.refuse:
            return self.refuse["RCPT"]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        if "DATA" in self.refuse:
            return self.refuse["DATA"]
        peer = f"{session.peer[0]}:{session.peer[1]}"
        self.messages.append((envelope, peer))
        if self.stall_after_data:
            await asyncio.sleep(self.stall_after_data)
        return "250 2.0.0 queued"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == USER
            and data.password.decode() == PASSWORD
        )
        if ok:
            self.logins.append(mechanism)
        # handled=False: aiosmtpd answers a failure itself (535).
        return AuthResult(success=ok, handled=False)

    def parsed(self, index: int = -1) -> EmailMessage:
        content = self.messages[index][0].original_content
        assert content is not None
        parsed = email.message_from_bytes(content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass(frozen=True)
class Certificate:
    """
    A self-signed certificate for 127.0.0.1 and its key, as files.
    """

    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """
    A self-signed certificate with 127.0.0.1 and localhost as subject alternative names.
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cartback test SMTP")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Certificate(cert=cert_path, key=key_path)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


class _ClosingController(Controller):
    """
    A controller that closes its sessions' connections when it stops, as a real server going
    down does (aiosmtpd's own leaves them to the garbage collector).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sessions: list[SMTP] = []

    def factory(self) -> SMTP:
        smtp = super().factory()
        self.sessions.append(smtp)
        return smtp

    def stop(self, no_assert: bool = False) -> None:
        asyncio.run_coroutine_threadsafe(self._drop_sessions(), self.loop).result(timeout=5)
        super().stop(no_assert=no_assert)

    async def _drop_sessions(self) -> None:
        for smtp in self.sessions:
            if smtp.transport is not None:
                smtp.transport.abort()  # a TLS session's socket too, at once
        await asyncio.sleep(0.05)  # the loop finishes closing them before it stops


class Server:
    """
    An aiosmtpd server requiring STARTTLS and AUTH, which can be restarted on its port.
    """

    def __init__(self, mailbox: Mailbox, certificate: Certificate) -> None:
        self.mailbox = mailbox
        self.certificate = certificate
        self.port = _free_port()
        self._controller: _ClosingController | None = None

    def start(self) -> None:
        self._controller = _ClosingController(
            self.mailbox,
            hostname=HOST,
            port=self.port,
            tls_context=self.certificate.server_context(),
            require_starttls=True,
            auth_required=True,
            auth_require_tls=True,
            authenticator=self.mailbox.authenticate,
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def url(self, **params: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in {"cafile": str(self.certificate.cert)}.items())
        extra = "".join(f"&{k}={v}" for k, v in params.items())
        return f"smtp://cartback%40shop.example.com:p%40ss%3Aword%2Fwith%25signs@{HOST}:{self.port}?{query}{extra}"


@pytest.fixture
def mailbox() -> Mailbox:
    """
    An empty mailbox that accepts everything.
    """
    return Mailbox()


@pytest.fixture
def server(mailbox: Mailbox, certificate: Certificate) -> Iterator[Server]:
    """
    A running SMTP server for this test.
    """
    running = Server(mailbox, certificate)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def channel_factory(clock: SimulatedClock) -> Iterator[Callable[[str], SmtpChannel]]:
    """
    Makes SMTP channels from URLs, all closed after the test.
    """
    made: list[SmtpChannel] = []

    def make(url: str) -> SmtpChannel:
        channel = SmtpChannel(config=parse_smtp_url(url), clock=clock)
        made.append(channel)
        return channel

    yield make
    for channel in made:
        channel.close()


def test_a_sent_email_arrives_with_both_parts_its_headers_and_a_valid_signature(
    server: Server, mailbox: Mailbox, channel_factory: Callable[[str], SmtpChannel]
) -> None:
    """
    Over STARTTLS and AUTH the server receives the MIME the channel built, DKIM intact.
    """
    # given
    channel = channel_factory(server.url())
    message = outbound_email()

    # when
    provider_id = channel.send(message, message.touch_id)

    # then
    assert "<tch_0123456789abcdefghjkm@shop.example.com>" == provider_id
    envelope, _ = mailbox.messages[0]
    assert "orders@shop.example.com" == envelope.mail_from
    assert ["shopper@example.org"] == envelope.rcpt_tos
    parsed = mailbox.parsed()
    assert ["text/plain", "text/html"] == [p.get_content_type() for p in parsed.iter_parts()]
    assert "List-Unsubscribe=One-Click" == str(parsed["List-Unsubscribe-Post"])
    assert str(parsed["List-Unsubscribe"]).startswith("<https://cartback.example.com/u/")
    assert "Fri, 27 Nov 2026 10:00:00 +0000" == str(parsed["Date"])
    assert envelope.original_content is not None
    assert dkim.verify(envelope.original_content, dnsfunc=dkim_dns)
    assert mailbox.logins  # authenticated (PLAIN or LOGIN)


def test_two_sends_share_one_connection(
    server: Server, mailbox: Mailbox, channel_factory: Callable[[str], SmtpChannel]
) -> None:
    """
    The second message goes over the connection the first one opened.
    """
    # given
    channel = channel_factory(server.url())

    # when
    channel.send(outbound_email(), "tch_1")
    channel.send(outbound_email(to="other@example.org"), "tch_2")

    # then
    assert 2 == len(mailbox.messages)
    assert 1 == len({peer for _, peer in mailbox.messages})
    assert 1 == len(mailbox.logins)


def test_a_restarted_server_gets_the_next_message_over_a_new_connection(
    server: Server, mailbox: Mailbox, channel_factory: Callable[[str], SmtpChannel]
) -> None:
    """
    The kept connection died with the server; the channel opens a new one and sends once.
    """
    # given
    channel = channel_factory(server.url())
    channel.send(outbound_email(), "tch_1")

    # when
    server.stop()
    server.start()
    channel.send(outbound_email(to="after@example.org"), "tch_2")

    # then
    assert [["shopper@example.org"], ["after@example.org"]] == [
        e.rcpt_tos for e, _ in mailbox.messages
    ]
    assert 2 == len({peer for _, peer in mailbox.messages})


@pytest.mark.parametrize(
    ("stage", "reply", "reason", "transient"),
    [
        ("MAIL", "421 4.3.2 Service shutting down", "smtp_421", True),
        ("RCPT", "451 4.7.1 Greylisted, try again later", "smtp_451", True),
        ("RCPT", "550 5.1.1 <shopper@example.org>: no such user", "smtp_550", False),
        ("DATA", "552 5.3.4 Message too big", "smtp_552", False),
        ("DATA", "451 4.3.0 Temporary failure", "smtp_451", True),
    ],
    ids=["421-mail", "451-rcpt", "550-rcpt", "552-data", "451-data"],
)
def test_refusals_are_transient_for_4xx_and_permanent_for_5xx(
    server: Server,
    mailbox: Mailbox,
    channel_factory: Callable[[str], SmtpChannel],
    stage: str,
    reply: str,
    reason: str,
    transient: bool,
) -> None:
    """
    The reason is `smtp_<code>`, the server's words are the detail.
    """
    # given
    channel = channel_factory(server.url())
    mailbox.refuse[stage] = reply

    # when
    with pytest.raises(SendFailed) as raised:
        channel.send(outbound_email(), "tch_1")

    # then
    assert (reason, transient) == (raised.value.reason, raised.value.transient)
    assert reply.split(" ", 1)[1] in (raised.value.detail or "")
    assert reply.split(" ", 1)[1] in str(raised.value)
    assert [] == mailbox.messages


def test_after_a_refusal_the_connection_still_sends(
    server: Server, mailbox: Mailbox, channel_factory: Callable[[str], SmtpChannel]
) -> None:
    """
    A refused recipient resets the transaction; the next message goes out on the same line.
    """
    # given
    channel = channel_factory(server.url())
    mailbox.refuse["RCPT"] = "550 5.1.1 no such user"
    with pytest.raises(SendFailed):
        channel.send(outbound_email(), "tch_1")

    # when
    del mailbox.refuse["RCPT"]
    channel.send(outbound_email(), "tch_2")

    # then
    assert 1 == len(mailbox.messages)


def test_a_wrong_password_is_a_transient_configuration_failure(
    server: Server, mailbox: Mailbox, channel_factory: Callable[[str], SmtpChannel]
) -> None:
    """
    `smtp_auth`: the operator fixes the URL and the retries go through.
    """
    # given
    channel = channel_factory(server.url().replace("p%40ss", "wrong"))

    # when
    with pytest.raises(SendFailed) as raised:
        channel.send(outbound_email(), "tch_1")

    # then
    assert ("smtp_auth", True) == (raised.value.reason, raised.value.transient)
    assert [] == mailbox.messages


def test_an_untrusted_certificate_is_refused(
    server: Server, mailbox: Mailbox, channel_factory: Callable[[str], SmtpChannel]
) -> None:
    """
    Without the test CA the certificate does not verify: nothing is sent in the clear.
    """
    # given
    url = server.url().replace(f"cafile={server.certificate.cert}", "timeout=5")
    channel = channel_factory(url)

    # when
    with pytest.raises(SendFailed) as raised:
        channel.send(outbound_email(), "tch_1")

    # then
    assert ("smtp_tls", True) == (raised.value.reason, raised.value.transient)
    assert [] == mailbox.messages


def test_a_refused_connection_is_transient(
    channel_factory: Callable[[str], SmtpChannel],
) -> None:
    """
    Nobody listens on the port: `smtp_connect`, retried later.
    """
    # given
    channel = channel_factory(f"smtp://{HOST}:{_free_port()}?starttls=0&timeout=2")

    # when
    with pytest.raises(SendFailed) as raised:
        channel.send(outbound_email(), "tch_1")

    # then
    assert ("smtp_connect", True) == (raised.value.reason, raised.value.transient)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """
    A port that accepts connections and never says a word.
    """
    listener = socket.socket()
    listener.bind((HOST, 0))
    listener.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


def test_a_server_that_does_not_answer_times_out_transiently(
    silent_port: int, channel_factory: Callable[[str], SmtpChannel]
) -> None:
    """
    No greeting within `timeout`: `smtp_timeout`, and the call returns instead of hanging.
    """
    # given
    channel = channel_factory(f"smtp://{HOST}:{silent_port}?starttls=0&timeout=0.3")

    # when
    with pytest.raises(SendFailed) as raised:
        channel.send(outbound_email(), "tch_1")

    # then
    assert ("smtp_timeout", True) == (raised.value.reason, raised.value.transient)


def test_an_answer_lost_after_the_message_is_not_a_failure_to_retry(
    server: Server, mailbox: Mailbox, channel_factory: Callable[[str], SmtpChannel]
) -> None:
    """
    The server took the message but its answer did not come in time: the channel cannot tell
    whether it went, so it says so (the touch is parked) instead of failing it for a retry that
    would deliver it twice.
    """
    # given
    mailbox.stall_after_data = 1.0
    channel = channel_factory(server.url(timeout="0.3"))

    # when / then
    with pytest.raises(StatusUnknown):
        channel.send(outbound_email(), "tch_1")
    assert 1 == len(mailbox.messages)


def test_status_cannot_be_known(channel_factory: Callable[[str], SmtpChannel]) -> None:
    """
    SMTP has no lookup: the dispatcher parks such touches instead of resending.
    """
    # given
    channel = channel_factory(f"smtp://{HOST}:25?starttls=0")

    # when / then
    with pytest.raises(StatusUnknown):
        channel.status("tch_1")


def test_the_url_is_read_with_its_credentials_decoded() -> None:
    """
    User and password are URL-decoded; STARTTLS and port 587 by default; timeout and cafile.
    """
    # when
    config = parse_smtp_url("smtp://user%40shop.example:p%40ss%2Fw@mail.example:2525?timeout=3")

    # then
    assert (
        SmtpConfig(
            host="mail.example",
            port=2525,
            implicit_tls=False,
            starttls=True,
            username="user@shop.example",
            password="p@ss/w",
            timeout=3.0,
        )
        == config
    )
    assert "p@ss" not in repr(config)


def test_smtps_means_implicit_tls_on_465() -> None:
    """
    `smtps://` wraps the connection in TLS from the start.
    """
    # when
    config = parse_smtp_url("smtps://u:p@mail.example")

    # then
    assert (465, True, False) == (config.port, config.implicit_tls, config.starttls)


@pytest.mark.parametrize(
    "url",
    [
        "http://mail.example",
        "smtp://",
        "smtp://mail.example?starttls=maybe",
        "smtp://mail.example?timeout=0",
        "smtp://mail.example?timeout=abc",
        "smtp://mail.example?color=blue",
        "smtp://user:secret@mail.example?starttls=0",
    ],
    ids=["scheme", "no-host", "starttls", "zero-timeout", "bad-timeout", "unknown", "clear-auth"],
)
def test_a_bad_url_is_a_configuration_error(url: str) -> None:
    """
    Refused at start, with what is wrong; credentials never go unencrypted to another host.
    """
    with pytest.raises(ConfigurationError):
        parse_smtp_url(url)
