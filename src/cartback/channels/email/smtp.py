"""
The SMTP channel: one connection per channel, reused for every message and opened again when the
server has dropped it; STARTTLS (or implicit TLS) with the certificate verified; AUTH when the
URL carries credentials; a timeout on every step.

Configured by `CARTBACK_SMTP_URL`:

    smtp://user:password@mail.example.com:587            STARTTLS (the default), port 587
    smtps://user:password@mail.example.com               implicit TLS, port 465
    smtp://relay.internal:25?starttls=0                  plain, no credentials (a local relay)

User and password are URL-decoded (`%40` for `@`). Query parameters: `starttls=1|0` (smtp://
only; default 1), `timeout=10` (seconds per connect, command and reply), `cafile=/path/ca.pem`
(trust this CA bundle instead of the system's, for a relay with a private CA), and
`helo=host.example` (the name the client gives in EHLO; default this machine's FQDN).

What a failure means for the touch (`SendFailed.transient`): a 4xx reply, a timeout, a refused
or dropped connection are transient (retried with back-off); a 5xx reply to the message (MAIL,
RCPT, DATA) is permanent, with the reason `smtp_<code>` and the server's words. Failures of the
set-up (TLS, AUTH) are transient too: they are the service's configuration, not the message's
fault, and an operator's fix lets the retries through.

SMTP has no lookup by idempotency key, so `status` raises `StatusUnknown`: a touch whose worker
died mid-send is parked, never sent twice.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
import threading
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

import structlog

from cartback.channels.email.mime import WireMessage, wire_message
from cartback.domain.errors import ConfigurationError
from cartback.domain.ports import OutboundMessage
from cartback.domain.time import Clock
from cartback.domain.touches import SendFailed, StatusUnknown

log = structlog.get_logger(__name__)

DEFAULT_TIMEOUT = 10.0
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_OK = 250
_RCPT_OK = frozenset({250, 251})
_PERMANENT = 500


@dataclass(frozen=True, kw_only=True, slots=True)
class SmtpConfig:
    """
    Where and how to connect (parsed from `CARTBACK_SMTP_URL`).
    """

    host: str
    port: int
    implicit_tls: bool
    starttls: bool
    username: str | None = None
    password: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    cafile: str | None = None
    helo: str | None = None

    def __repr__(self) -> str:
        return (
            f"SmtpConfig(host={self.host!r}, port={self.port}, implicit_tls={self.implicit_tls}, "
            f"starttls={self.starttls}, username={self.username!r})"
        )


def parse_smtp_url(url: str) -> SmtpConfig:
    """
    Read `CARTBACK_SMTP_URL`.

    Raises:
        ConfigurationError: not an smtp:// or smtps:// URL with a host, an unknown or malformed
            parameter, or credentials that would cross the network unencrypted.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ConfigurationError("CARTBACK_SMTP_URL must be smtp://host[:port] or smtps://…")
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    unknown = set(query) - {"starttls", "timeout", "cafile", "helo"}
    if unknown:
        raise ConfigurationError(f"CARTBACK_SMTP_URL: unknown parameter {sorted(unknown)[0]!r}")
    implicit = parts.scheme == "smtps"
    starttls = not implicit and _flag(query.get("starttls", "1"))
    config = SmtpConfig(
        host=parts.hostname,
        port=_port(parts.port if _has_port(parts.netloc) else None, implicit),
        implicit_tls=implicit,
        starttls=starttls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        timeout=_timeout(query.get("timeout")),
        cafile=query.get("cafile") or None,
        helo=query.get("helo") or None,
    )
    if config.username and not (implicit or starttls) and config.host not in _LOOPBACK:
        raise ConfigurationError(
            "CARTBACK_SMTP_URL: credentials need TLS (drop starttls=0, or use smtps://)"
        )
    return config


def _has_port(netloc: str) -> bool:
    host = netloc.rpartition("@")[2]
    return ":" in host.rpartition("]")[2]


def _port(given: int | None, implicit: bool) -> int:
    if given is not None:
        return given
    return 465 if implicit else 587


def _flag(value: str) -> bool:
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigurationError("CARTBACK_SMTP_URL: starttls must be 1 or 0")


def _timeout(value: str | None) -> float:
    if value is None:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds <= 300:
        raise ConfigurationError("CARTBACK_SMTP_URL: timeout must be seconds, above 0, at most 300")
    return seconds


class SmtpChannel:
    """
    Sends each message over one kept-open connection (a lock makes the worker loops take
    turns on it). Implements `MessageChannel`.
    """

    def __init__(self, *, config: SmtpConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._lock = threading.Lock()
        self._connection: smtplib.SMTP | None = None

    def send(self, message: OutboundMessage, idempotency_key: str) -> str:
        """
        Send the message; its `Message-ID` is the provider id (SMTP servers give none of their
        own that can be looked up).

        Raises:
            SendFailed: refused (5xx: permanent), or not now (4xx, timeout, connection).
        """
        wire = wire_message(message, now=self._clock.now())
        with self._lock:
            self._deliver(wire)
        log.info("email.smtp.sent", store_id=message.store_id, touch_id=idempotency_key)
        return wire.message_id

    def status(self, idempotency_key: str) -> str | None:
        """
        Raises:
            StatusUnknown: always; SMTP cannot tell whether a message went.
        """
        raise StatusUnknown(f"SMTP cannot look up {idempotency_key}")

    def close(self) -> None:
        """
        Say QUIT and drop the connection, if one is open.
        """
        with self._lock:
            self._drop(polite=True)

    def _deliver(self, wire: WireMessage) -> None:
        """
        One transaction. A kept connection the server dropped meanwhile is opened again once,
        when the drop shows before the message was handed over (at MAIL FROM), so nothing is
        sent twice.
        """
        reused = self._connection is not None
        try:
            self._attempt(wire)
        except _Dropped as dropped:
            self._drop(polite=False)
            if not reused:
                raise _network_failure(dropped.cause) from None
            log.info("email.smtp.reconnect", host=self._config.host)
            try:
                self._attempt(wire)
            except _Dropped as again:
                self._drop(polite=False)
                raise _network_failure(again.cause) from None

    def _attempt(self, wire: WireMessage) -> None:
        try:
            self._transaction(self._connect(), wire)
        except (SendFailed, StatusUnknown, _Dropped):
            raise
        except smtplib.SMTPResponseException as error:
            # A refusal before any message (the greeting): the server's state, not the message's.
            self._drop(polite=False)
            raise _reply_failure(error.smtp_code, error.smtp_error, transient=True) from None
        except OSError as error:  # timeouts, refused connections, drops (smtplib's too)
            self._drop(polite=False)
            raise _network_failure(error) from None

    def _connect(self) -> smtplib.SMTP:
        if self._connection is not None:
            return self._connection
        config = self._config
        context = ssl.create_default_context(cafile=config.cafile)
        connection: smtplib.SMTP
        if config.implicit_tls:
            connection = smtplib.SMTP_SSL(
                config.host,
                config.port,
                local_hostname=config.helo,
                timeout=config.timeout,
                context=context,
            )
        else:
            connection = smtplib.SMTP(
                config.host, config.port, local_hostname=config.helo, timeout=config.timeout
            )
        try:
            self._secure_and_log_in(connection, context)
        except BaseException:
            _quietly_close(connection)
            raise
        self._connection = connection
        return connection

    def _secure_and_log_in(self, connection: smtplib.SMTP, context: ssl.SSLContext) -> None:
        config = self._config
        try:
            connection.ehlo()
            if config.starttls:
                # `starttls` checks the certificate against `host` (server_hostname) and
                # refuses a server that does not offer STARTTLS: never fall back to plain.
                connection.starttls(context=context)
                connection.ehlo()
            if config.username:
                connection.login(config.username, config.password or "")
        except smtplib.SMTPNotSupportedError as error:
            raise SendFailed("smtp_tls", transient=True, detail=str(error)) from None
        except ssl.SSLError as error:
            raise SendFailed("smtp_tls", transient=True, detail=str(error)) from None
        except smtplib.SMTPAuthenticationError as error:
            raise SendFailed("smtp_auth", transient=True, detail=_words(error.smtp_error)) from None
        except smtplib.SMTPResponseException as error:
            raise _reply_failure(error.smtp_code, error.smtp_error, transient=True) from None

    def _transaction(self, connection: smtplib.SMTP, wire: WireMessage) -> None:
        """
        MAIL, RCPT, DATA, each reply checked; a refused transaction is reset so the connection
        stays usable.
        """
        try:
            code, reply = connection.mail(wire.mail_from)
        except OSError as error:  # smtplib's disconnection, a reset, a timeout
            raise _Dropped(error) from None
        if code != _OK:
            self._reset(connection)
            raise _reply_failure(code, reply)
        code, reply = connection.rcpt(wire.rcpt_to)
        if code not in _RCPT_OK:
            self._reset(connection)
            raise _reply_failure(code, reply)
        try:
            code, reply = connection.data(wire.data)
        except smtplib.SMTPDataError as error:
            self._reset(connection)
            raise _reply_failure(error.smtp_code, error.smtp_error) from None
        except OSError:
            # Lost during DATA: the server may have taken the message before its answer was
            # lost. Sending again could deliver it twice; the touch is parked instead.
            self._drop(polite=False)
            log.warning("email.smtp.answer_lost", host=self._config.host)
            raise StatusUnknown("the connection was lost during DATA") from None
        if code != _OK:
            self._reset(connection)
            raise _reply_failure(code, reply)

    def _reset(self, connection: smtplib.SMTP) -> None:
        try:
            connection.rset()
        except (smtplib.SMTPException, OSError):
            self._drop(polite=False)

    def _drop(self, *, polite: bool) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if polite:
            try:
                connection.quit()
            except (smtplib.SMTPException, OSError):
                _quietly_close(connection)
            return
        _quietly_close(connection)


class _Dropped(Exception):
    """
    The connection failed before the message was handed over (at MAIL FROM).
    """

    def __init__(self, cause: OSError) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _quietly_close(connection: smtplib.SMTP) -> None:
    with contextlib.suppress(OSError):
        connection.close()


def _reply_failure(code: int, reply: bytes | str, *, transient: bool | None = None) -> SendFailed:
    """
    A refusal in SMTP's terms: 5xx permanent, anything else (4xx, odd codes) transient.
    """
    permanent = _PERMANENT <= code < 600
    return SendFailed(
        f"smtp_{code}",
        transient=transient if transient is not None else not permanent,
        detail=_words(reply),
    )


def _network_failure(error: BaseException) -> SendFailed:
    # smtplib reports a read that timed out as a disconnection, the timeout as its context.
    if isinstance(error, TimeoutError) or isinstance(error.__context__, TimeoutError):
        return SendFailed("smtp_timeout", transient=True, detail=str(error) or "timed out")
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return SendFailed("smtp_disconnected", transient=True, detail=str(error))
    if isinstance(error, ssl.SSLError):
        return SendFailed("smtp_tls", transient=True, detail=str(error))
    return SendFailed("smtp_connect", transient=True, detail=str(error))


def _words(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())[:400]
