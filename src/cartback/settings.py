"""
The one typed configuration (`contract.md` §2): environment variables prefixed `CARTBACK_`, and a
`.env` file. Built once by the CLI and passed down; nothing reads it globally.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import tempfile
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cartback.domain.errors import ConfigurationError

#: A production secret shorter than this is refused: it signs restore links and sessions.
MIN_SECRET_LENGTH = 32


class Environment(StrEnum):
    """
    Where Cartback runs; production refuses unsafe defaults.
    """

    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


_READABLE_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)?")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


class EmailBackend(StrEnum):
    """
    Where email goes: `outbox` keeps it in the database (nothing leaves), `smtp` sends it
    through `CARTBACK_SMTP_URL`, `resend` through Resend's HTTP API.
    """

    OUTBOX = "outbox"
    SMTP = "smtp"
    RESEND = "resend"


class PasswordHashProfile(StrEnum):
    """
    argon2id parameters for operators' passwords (argon2-cffi's profiles). `rfc_9106_low_memory`
    is the library's default; `cheapest` exists for test suites and is refused in production.
    """

    RFC_9106_LOW_MEMORY = "rfc_9106_low_memory"
    RFC_9106_HIGH_MEMORY = "rfc_9106_high_memory"
    CHEAPEST = "cheapest"


class SmsBackend(StrEnum):
    """
    Where SMS goes: `outbox` keeps it, `twilio` sends it.
    """

    OUTBOX = "outbox"
    TWILIO = "twilio"


class IngestWriterKind(StrEnum):
    """
    Where ingestion writes to the database: a writer `process` of its own (another core), or a
    `thread` of the HTTP process.
    """

    PROCESS = "process"
    THREAD = "thread"


class LogFormat(StrEnum):
    """
    `console` for people, `json` for log pipelines, `auto` picks by environment.
    """

    AUTO = "auto"
    CONSOLE = "console"
    JSON = "json"


class Settings(BaseSettings):
    """
    Cartback's configuration.
    """

    model_config = SettingsConfigDict(
        env_prefix="CARTBACK_",
        env_file=".env",
        env_ignore_empty=True,
        extra="ignore",
    )

    database_url: str = "sqlite:///./cartback.db"
    secret_key: SecretStr | None = None
    env: Environment = Environment.DEVELOPMENT
    base_url: str = "http://127.0.0.1:8000"
    email_backend: EmailBackend = EmailBackend.OUTBOX
    #: `smtp://user:pass@host:587` (STARTTLS) or `smtps://…` (TLS); `?timeout=10&cafile=…`.
    smtp_url: SecretStr | None = None
    resend_api_key: SecretStr | None = None
    resend_api_url: str = "https://api.resend.com"
    sms_backend: SmsBackend = SmsBackend.OUTBOX
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    #: Twilio's REST API (tests point it at a local server).
    twilio_api_url: str = "https://api.twilio.com"
    #: Meta's Graph API (Custom Audiences, Conversions API) and the Google Ads API (Customer
    #: Match); tests point them at local servers.
    meta_api_url: str = "https://graph.facebook.com"
    google_ads_api_url: str = "https://googleads.googleapis.com"
    #: Outbound webhooks: hosts (comma-separated) that may use http and private addresses,
    #: for a local receiver in development and tests; refused in production.
    webhook_allow_hosts: str | None = None

    data_dir: Path = Path(".cartback")
    password_hash_profile: PasswordHashProfile = PasswordHashProfile.RFC_9106_LOW_MEMORY
    log_level: str = "info"
    log_format: LogFormat = LogFormat.AUTO

    #: Server-key ingestion per store: sustained requests per second and burst.
    ingest_rate: float = Field(default=500.0, gt=0)
    ingest_burst: int = Field(default=1000, gt=0)
    #: Browser ingestion per public key and client address.
    public_rate: float = Field(default=20.0, gt=0)
    public_burst: int = Field(default=60, gt=0)

    ingest_writer: IngestWriterKind = IngestWriterKind.PROCESS

    worker_poll_interval: timedelta = timedelta(milliseconds=500)
    worker_batch_size: int = Field(default=200, gt=0, le=5000)
    worker_heartbeat_interval: timedelta = timedelta(seconds=10)
    #: How long a send in flight belongs to its worker without a heartbeat; a worker that
    #: stops answering for this long leaves its sends to the others (as `ambiguous`).
    #: PostgreSQL: wake workers by LISTEN/NOTIFY when a touch comes due on writing, with
    #: polling (`worker_poll_interval`) as the fallback.
    worker_listen: bool = True
    worker_lease: timedelta = Field(
        default=timedelta(seconds=30), ge=timedelta(seconds=1), le=timedelta(minutes=10)
    )
    #: Dashboard sessions end after this long without a request, and after `lifetime` in all.
    dashboard_session_idle: timedelta = Field(default=timedelta(minutes=30), gt=timedelta(0))
    dashboard_session_lifetime: timedelta = Field(default=timedelta(hours=12), gt=timedelta(0))
    #: The worker recomputes a store's dashboard overview (its report snapshot) once it is
    #: this old; the page says how old its numbers are and offers "Refresh now".
    report_snapshot_every: timedelta = Field(default=timedelta(minutes=10), gt=timedelta(0))

    @field_validator(
        "worker_poll_interval",
        "worker_heartbeat_interval",
        "worker_lease",
        "report_snapshot_every",
        mode="before",
    )
    @classmethod
    def _readable_duration(cls, value: object) -> object:
        """
        Durations as the docs write them (`500ms`, `0.5s`, `30s`, `2m`), plain seconds
        (`0.5`), or ISO 8601 (`PT30S`).
        """
        if not isinstance(value, str):
            return value
        match = _READABLE_DURATION.fullmatch(value.strip().lower())
        if match is None:
            return value
        number, unit = float(match.group(1)), match.group(2)
        return timedelta(seconds=number * _DURATION_UNITS[unit])

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Self:
        if self.env is not Environment.PRODUCTION:
            return self
        if self.webhook_allow_list:
            raise ValueError("CARTBACK_WEBHOOK_ALLOW_HOSTS is refused when CARTBACK_ENV=production")
        keys = self.secret_keys_from_env()
        if not keys:
            raise ValueError("CARTBACK_SECRET_KEY is required when CARTBACK_ENV=production")
        if any(len(k) < MIN_SECRET_LENGTH for k in keys):
            raise ValueError(
                f"every CARTBACK_SECRET_KEY must be at least {MIN_SECRET_LENGTH} characters"
            )
        if self.password_hash_profile is PasswordHashProfile.CHEAPEST:
            raise ValueError("CARTBACK_PASSWORD_HASH_PROFILE=cheapest is refused in production")
        return self

    @property
    def webhook_allow_list(self) -> frozenset[str]:
        """
        `CARTBACK_WEBHOOK_ALLOW_HOSTS` as lower-cased host names.
        """
        text = self.webhook_allow_hosts or ""
        return frozenset(h.strip().lower() for h in text.split(",") if h.strip())

    def secret_keys_from_env(self) -> list[str]:
        """
        The configured keys, newest first (the first signs, all verify).
        """
        if self.secret_key is None:
            return []
        return [k.strip() for k in self.secret_key.get_secret_value().split(",") if k.strip()]

    def resolve_secret_keys(self) -> list[str]:
        """
        The configured keys, or in development and test the key generated once into the data
        directory (created on first use, readable only by its owner).
        """
        keys = self.secret_keys_from_env()
        if keys:
            return keys
        path = self.data_dir / "secret_key"
        if not path.exists():
            _create_key_file(path)
        stored = path.read_text().strip()
        if not stored:
            # An empty key would seal secrets with a key anyone can derive.
            raise ConfigurationError(f"{path} is empty; delete it to generate a new key")
        return [stored]

    @property
    def json_logs(self) -> bool:
        """
        Whether logs are rendered as JSON lines.
        """
        if self.log_format is LogFormat.AUTO:
            return self.env is Environment.PRODUCTION
        return self.log_format is LogFormat.JSON


def _create_key_file(path: Path) -> None:
    """
    Write a new random key to `path`, readable only by its owner.

    The key goes to a private temporary file that is then hard-linked into place, so `serve` and
    `worker` starting together on a fresh data directory agree on one key: the loser of the race
    reads the winner's complete file instead of crashing or reading a half-written one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".secret_key.")
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(48) + "\n")
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process created it first; its key is the one
        except OSError:
            # A filesystem without hard links: a rename still never shows half a key.
            os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
