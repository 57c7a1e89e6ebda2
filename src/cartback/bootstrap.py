"""
The composition root: the one place that turns `Settings` into engines, clocks, metrics and the
unit-of-work factory, and hands them to the API, the worker and the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine

from cartback.channels.outbox import OutboxChannel
from cartback.domain.consent import Channel
from cartback.domain.ports import MessageChannel
from cartback.domain.time import Clock
from cartback.engine.clock import SystemClock
from cartback.engine.worker import Worker, WorkerConfig
from cartback.kit.keys import SecretBox
from cartback.kit.metrics import Metrics
from cartback.services.dispatch import SenderThrottle
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
                name=name,
            ),
            channels=self.channels(),
            throttle=self.throttle,
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
        if self.settings.sms_backend is SmsBackend.OUTBOX:
            built[Channel.SMS] = outbox
        return built

    def close(self) -> None:
        """
        Stop workers and release database connections.
        """
        for worker in self.workers:
            worker.stop()
        if self.listener is not None:
            self.listener.stop()
            self.listener = None
        self.engine.dispose()


def bootstrap(
    settings: Settings,
    *,
    clock: Clock | None = None,
    application_name: str = "cartback",
    checkpoints_elsewhere: bool = False,
) -> Container:
    """
    Build the container for a process (`application_name` shows in `pg_stat_activity`;
    `checkpoints_elsewhere`: this process checkpoints SQLite's log in the background).
    """
    engine = create_database_engine(
        settings.database_url,
        application_name=application_name,
        checkpoints_elsewhere=checkpoints_elsewhere,
    )
    return Container(
        settings=settings,
        engine=engine,
        uow_factory=SqlUnitOfWorkFactory(engine),
        clock=clock or SystemClock(),
        metrics=Metrics(),
        box=SecretBox(settings.resolve_secret_keys()),
    )
