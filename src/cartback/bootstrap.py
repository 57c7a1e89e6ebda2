"""
The composition root: the one place that turns `Settings` into engines, clocks, metrics and the
unit-of-work factory, and hands them to the API, the worker and the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine

from cartback.channels.ads.capi import MetaConversionsClient
from cartback.channels.ads.google import GoogleAudiencePusher
from cartback.channels.ads.meta import MetaAudiencePusher
from cartback.channels.email.resend import ResendChannel
from cartback.channels.email.smtp import SmtpChannel, parse_smtp_url
from cartback.channels.outbox import OutboxChannel
from cartback.channels.sms import TwilioAccount, TwilioChannel
from cartback.channels.webhooks import HttpxWebhookTransport, SystemResolver
from cartback.domain.consent import Channel
from cartback.domain.errors import ConfigurationError, NotFound
from cartback.domain.ports import MessageChannel, Resolver, WebhookTransport
from cartback.domain.time import Clock
from cartback.engine.clock import SystemClock
from cartback.engine.worker import Worker, WorkerConfig
from cartback.kit.keys import SecretBox
from cartback.kit.metrics import Metrics
from cartback.services.ads_config import GoogleAccount, MetaAccount
from cartback.services.audience_sync import AudiencePushers
from cartback.services.compose import Composer
from cartback.services.dispatch import SenderThrottle
from cartback.services.offers import OfferPlatforms
from cartback.services.sms_config import sms_credentials
from cartback.services.webhook_delivery import DeliveryConfig
from cartback.services.webhooks import DestinationPolicy
from cartback.settings import EmailBackend, Settings, SmsBackend
from cartback.store.database import create_database_engine
from cartback.store.uow import SqlUnitOfWorkFactory
from cartback.store.wakeup import DueListener


@dataclass(kw_only=True)
class Container:
    """
    Everything a process needs, built once.
    """

    settings: Settings
    engine: Engine
    uow_factory: SqlUnitOfWorkFactory
    clock: Clock
    metrics: Metrics
    box: SecretBox
    workers: list[Worker] = field(default_factory=list)
    #: One per process: its worker loops share each SMS sender's rate.
    throttle: SenderThrottle = field(default_factory=SenderThrottle)
    listener: DueListener | None = None
    #: The email channel `CARTBACK_EMAIL_BACKEND` chooses (SMTP, Resend), built once per process
    #: so its workers share one connection; None for the outbox.
    email_channel: SmtpChannel | ResendChannel | None = None
    #: Each store's discount API, shared by the process's workers (built per settings version).
    offer_platforms: OfferPlatforms | None = None
    #: Meta's Conversions API, shared by the process's workers (built on first use).
    conversions_client: MetaConversionsClient | None = None
    #: DNS for outbound webhook destinations (tests put a fake in its place).
    resolver: Resolver = field(default_factory=SystemResolver)
    #: The HTTP client of outbound webhooks, shared by the process's workers (built on use).
    webhook_transport: WebhookTransport | None = None

    @property
    def is_sqlite(self) -> bool:
        """
        True on the embedded database (one writer at a time, one worker).
        """
        return self.engine.dialect.name == "sqlite"

    def new_worker(self, *, name: str = "worker") -> Worker:
        """
        A worker wired to this container's database, clock and metrics.
        """
        worker = Worker(
            uow_factory=self.uow_factory,
            clock=self.clock,
            metrics=self.metrics,
            config=WorkerConfig(
                batch_size=self.settings.worker_batch_size,
                poll_interval=self.settings.worker_poll_interval,
                heartbeat_interval=self.settings.worker_heartbeat_interval,
                lease=self.settings.worker_lease,
                report_snapshot_every=self.settings.report_snapshot_every,
                name=name,
            ),
            channels=self.channels(),
            throttle=self.throttle,
            composer=self.composer(),
            offers=self.offers(),
            conversions=self.conversions(),
            box=self.box,
            audience_pushers=self.audience_pushers(),
            webhooks=self.webhook_delivery(),
        )
        self.workers.append(worker)
        self._listen()
        return worker

    def _listen(self) -> None:
        """
        On PostgreSQL, one LISTEN connection for the process wakes all its workers.
        """
        if self.listener is not None or self.is_sqlite or not self.settings.worker_listen:
            return
        self.listener = DueListener(self.engine, self._wake_workers)
        self.listener.start()

    def _wake_workers(self) -> None:
        for worker in self.workers:
            worker.wake()

    def offers(self) -> OfferPlatforms:
        """
        The stores' discount APIs: a platform store whose API access is configured creates
        its codes there; others keep them in Cartback (`GET /v1/offers/{code}`).
        """
        if self.offer_platforms is None:
            from cartback.sources.discounts import discount_platform

            box = self.box
            self.offer_platforms = OfferPlatforms(lambda store: discount_platform(store, box))
        return self.offer_platforms

    def conversions(self) -> MetaConversionsClient:
        """
        Meta's Conversions API at `CARTBACK_META_API_URL`: stores with a pixel send their
        anonymous visitors' cart events there (nothing connects until the first send).
        """
        if self.conversions_client is None:
            self.conversions_client = MetaConversionsClient(api_url=self.settings.meta_api_url)
        return self.conversions_client

    def audience_pushers(self) -> AudiencePushers:
        """
        Meta's Custom Audiences at `CARTBACK_META_API_URL` and Google's Customer Match at
        `CARTBACK_GOOGLE_ADS_API_URL`, each opened with a store's own account when it syncs.
        """
        meta_url, google_url = self.settings.meta_api_url, self.settings.google_ads_api_url

        def meta(account: MetaAccount) -> MetaAudiencePusher:
            return MetaAudiencePusher(access_token=account.access_token, api_url=meta_url)

        def google(account: GoogleAccount) -> GoogleAudiencePusher:
            return GoogleAudiencePusher(
                developer_token=account.developer_token,
                access_token=account.access_token,
                customer_id=account.customer_id,
                login_customer_id=account.login_customer_id,
                api_url=google_url,
            )

        return AudiencePushers(meta=meta, google=google)

    def destination_policy(self) -> DestinationPolicy:
        """
        How webhook URLs are checked: this process's resolver and the development allow list
        (`CARTBACK_WEBHOOK_ALLOW_HOSTS`).
        """
        return DestinationPolicy(
            resolver=self.resolver, allow_hosts=self.settings.webhook_allow_list
        )

    def webhook_delivery(self) -> DeliveryConfig:
        """
        What the worker's webhook pass uses: the destination policy, the HTTP transport (one
        per process) and the secret box that opens the signing secrets.
        """
        if self.webhook_transport is None:
            self.webhook_transport = HttpxWebhookTransport()
        return DeliveryConfig(
            policy=self.destination_policy(), transport=self.webhook_transport, box=self.box
        )

    def composer(self) -> Composer:
        """
        What renders and addresses messages: the service's links, signed with its keys.
        """
        return Composer(
            secret_keys=self.settings.resolve_secret_keys(),
            base_url=self.settings.base_url,
            box=self.box,
        )

    def channels(self) -> dict[Channel, MessageChannel]:
        """
        The message channels the settings choose (`CARTBACK_EMAIL_BACKEND`,
        `CARTBACK_SMS_BACKEND`); a backend not built yet leaves its channel out, so its touches
        wait (deferred `no_channel`) instead of failing.
        """
        outbox = OutboxChannel(uow_factory=self.uow_factory, clock=self.clock)
        built: dict[Channel, MessageChannel] = {}
        if self.settings.email_backend is EmailBackend.OUTBOX:
            built[Channel.EMAIL] = outbox
        elif self.email_channel is not None:
            built[Channel.EMAIL] = self.email_channel
        if self.settings.sms_backend is SmsBackend.OUTBOX:
            built[Channel.SMS] = outbox
        elif self.settings.sms_backend is SmsBackend.TWILIO:
            built[Channel.SMS] = TwilioChannel(
                account_for=self.twilio_account, api_url=self.settings.twilio_api_url
            )
        return built

    def twilio_account(self, store_id: str) -> TwilioAccount | None:
        """
        The Twilio account a store's texts go through: its own (`cartback sms configure`),
        else the service-wide `CARTBACK_TWILIO_ACCOUNT_SID` and `_AUTH_TOKEN`; None when
        neither is there (the text fails `twilio_no_account`).
        """
        fallback = self.settings.twilio_auth_token
        try:
            credentials = sms_credentials(
                uow=self.uow_factory(read_only=True),
                box=self.box,
                store_id=store_id,
                fallback_token=fallback.get_secret_value() if fallback else None,
            )
        except (NotFound, ConfigurationError):
            return None
        account_sid = credentials.account_sid or self.settings.twilio_account_sid
        if not account_sid:
            return None
        return TwilioAccount(
            account_sid=account_sid,
            auth_token=credentials.auth_token,
            sender=credentials.sender,
        )

    def close(self) -> None:
        """
        Stop workers and release database connections.
        """
        for worker in self.workers:
            worker.stop()
        if self.listener is not None:
            self.listener.stop()
            self.listener = None
        if self.email_channel is not None:
            self.email_channel.close()
        if self.offer_platforms is not None:
            self.offer_platforms.close()
        if self.conversions_client is not None:
            self.conversions_client.close()
        if isinstance(self.webhook_transport, HttpxWebhookTransport):
            self.webhook_transport.close()
        self.engine.dispose()


def bootstrap(
    settings: Settings,
    *,
    clock: Clock | None = None,
    application_name: str = "cartback",
    checkpoints_elsewhere: bool = False,
    ping_on_checkout: bool = True,
) -> Container:
    """
    Build the container for a process (`application_name` shows in `pg_stat_activity`;
    `checkpoints_elsewhere`: this process checkpoints SQLite's log in the background;
    `ping_on_checkout` False: this process retries a transaction that met a dropped
    connection itself, so it need not spend a round trip testing each one).
    """
    clock = clock or SystemClock()
    email_channel = _email_channel(settings, clock)  # a bad setting stops the start
    engine = create_database_engine(
        settings.database_url,
        application_name=application_name,
        checkpoints_elsewhere=checkpoints_elsewhere,
        ping_on_checkout=ping_on_checkout,
    )
    return Container(
        settings=settings,
        engine=engine,
        uow_factory=SqlUnitOfWorkFactory(engine),
        clock=clock,
        metrics=Metrics(),
        box=SecretBox(settings.resolve_secret_keys()),
        email_channel=email_channel,
    )


def _email_channel(settings: Settings, clock: Clock) -> SmtpChannel | ResendChannel | None:
    """
    The email channel of `CARTBACK_EMAIL_BACKEND` (nothing connects until the first send).

    Raises:
        ConfigurationError: the backend's URL or key is missing or malformed.
    """
    backend = settings.email_backend
    if backend is EmailBackend.SMTP:
        if settings.smtp_url is None:
            raise ConfigurationError("CARTBACK_EMAIL_BACKEND=smtp needs CARTBACK_SMTP_URL")
        return SmtpChannel(config=parse_smtp_url(settings.smtp_url.get_secret_value()), clock=clock)
    if backend is EmailBackend.RESEND:
        if settings.resend_api_key is None:
            raise ConfigurationError("CARTBACK_EMAIL_BACKEND=resend needs CARTBACK_RESEND_API_KEY")
        return ResendChannel(
            api_key=settings.resend_api_key.get_secret_value(), api_url=settings.resend_api_url
        )
    return None
