"""
The worker loop: fire due cart timers, sleep until the next one (or the poll interval), keep a
heartbeat, survive a database outage, stop cleanly when asked.

Timers need no scans: each pass claims due rows through the index on `check_at`, and between
passes the worker sleeps until the earliest pending timer. Periodic jobs (the retention purge
in small batches, health checks, audience syncs, report snapshots one store at a time …) run
each at most every its own interval.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy.exc import DBAPIError

from cartback.domain.consent import Channel
from cartback.domain.conversions import ConversionSender
from cartback.domain.errors import ConfigurationError
from cartback.domain.health import AlertKind
from cartback.domain.ports import MessageChannel, UnitOfWorkFactory
from cartback.domain.time import Clock
from cartback.kit.ids import new_id
from cartback.kit.keys import SecretBox
from cartback.kit.metrics import Metrics
from cartback.services.abandonment import TimerReport, process_due_carts
from cartback.services.audience_sync import AudiencePushers, sync_audiences
from cartback.services.audiences import expire_memberships
from cartback.services.compose import Composer
from cartback.services.conversions import send_conversions
from cartback.services.dispatch import (
    DEFAULT_LEASE,
    DispatchConfig,
    DispatchReport,
    SenderThrottle,
    dispatch_due_touches,
)
from cartback.services.enrollment import complete_held_out
from cartback.services.health import check_health
from cartback.services.offers import (
    NO_PLATFORMS,
    OfferPlatforms,
    create_pending_offers,
    revoke_offers,
)
from cartback.services.report_snapshots import refresh_stalest
from cartback.services.retention import purge_expired
from cartback.services.webhook_delivery import DeliveryConfig, deliver_due_webhooks

log = structlog.get_logger(__name__)

#: After a failed pass the worker waits 0.5 s, 1 s, 2 s … up to this, so a database restart
#: is picked up within seconds without hammering it while it is down.
MAX_BACKOFF = timedelta(seconds=4)


@dataclass(frozen=True, kw_only=True, slots=True)
class WorkerConfig:
    """
    How a worker paces itself.
    """

    batch_size: int = 200
    poll_interval: timedelta = timedelta(milliseconds=500)
    heartbeat_interval: timedelta = timedelta(seconds=10)
    #: A send in flight is this worker's for this long, renewed while the pass goes on.
    lease: timedelta = DEFAULT_LEASE
    name: str = "worker"
    #: Retention purges run at most this often (never on every tick), each at most
    #: `retention_batches` transactions per store and kind; the rest waits for the next run.
    retention_interval: timedelta = timedelta(minutes=5)
    retention_batches: int = 20
    #: Control-group enrollments are completed at most this often.
    held_out_interval: timedelta = timedelta(minutes=1)
    #: Expired and superseded discount codes are removed from platforms at most this often.
    revoke_interval: timedelta = timedelta(minutes=1)
    #: Audience memberships whose window is over are ended at most this often.
    expire_interval: timedelta = timedelta(minutes=1)
    #: Audience lists are brought up to date on the ad networks at most this often (Meta and
    #: Google take hours to apply a change: more often would only spend their quotas).
    audience_sync_interval: timedelta = timedelta(minutes=10)
    #: New storefront events go to Meta's Conversions API at most this often.
    conversions_interval: timedelta = timedelta(minutes=1)
    #: Raw events read per store and conversions pass.
    conversions_limit: int = 5000
    #: Due outbound webhooks are attempted at most this often (each pass takes a few).
    webhook_interval: timedelta = timedelta(seconds=1)
    #: Stores' arrivals are checked for silences (health alerts) at most this often.
    health_interval: timedelta = timedelta(minutes=5)
    #: A store's dashboard overview (report snapshot) is recomputed once it is this old.
    report_snapshot_every: timedelta = timedelta(minutes=10)
    #: Stale snapshots are looked for at most this often; each look refreshes one store (a
    #: report over a big store takes seconds, so the timers never wait for many in a row).
    report_snapshot_interval: timedelta = timedelta(seconds=5)


class Worker:
    """
    One worker: any number may run against one PostgreSQL; SQLite serialises them.
    """

    def __init__(
        self,
        *,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        metrics: Metrics,
        config: WorkerConfig,
        channels: Mapping[Channel, MessageChannel] | None = None,
        throttle: SenderThrottle | None = None,
        composer: Composer | None = None,
        offers: OfferPlatforms = NO_PLATFORMS,
        conversions: ConversionSender | None = None,
        box: SecretBox | None = None,
        audience_pushers: AudiencePushers | None = None,
        webhooks: DeliveryConfig | None = None,
    ) -> None:
        self._uow_factory = uow_factory
        #: How outbound webhooks are checked, signed and sent; without it none is.
        self._webhooks = webhooks
        #: Where pixel stores' conversion events go, and what opens their tokens; without
        #: both the worker sends none.
        self._conversions = conversions
        self._box = box
        #: Where stores' audiences are pushed (Meta, Google); without them, and `box`, none is.
        self._audience_pushers = audience_pushers
        #: Each store's discount API (codes are created before the message that shows them).
        self._offers = offers
        #: Where touches go; without channels the worker fires cart timers only.
        self._channels = dict(channels or {})
        if self._channels and composer is None:
            raise ConfigurationError("a worker that sends needs a composer for its messages")
        self._composer = composer
        #: SMS pacing per sender, shared by the loops of one process.
        self._throttle = throttle or SenderThrottle()
        self._clock = clock
        self._metrics = metrics
        self._config = config
        self.id = new_id("wk")
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._last_heartbeat: datetime | None = None
        self._last_purge: datetime | None = None
        #: When each periodic task last ran (`_every`).
        self._last_runs: dict[str, datetime] = {}
        #: The report snapshot refresh running beside the loop, if one is.
        self._snapshot_thread: threading.Thread | None = None

    def stop(self) -> None:
        """
        Ask the loop to finish its current pass and return.
        """
        self._stop.set()
        self._wake.set()

    def wake(self) -> None:
        """
        Cut the idle wait short: work may be due now (LISTEN/NOTIFY on PostgreSQL).
        """
        self._wake.set()

    @property
    def stopping(self) -> bool:
        """
        True once `stop()` was called.
        """
        return self._stop.is_set()

    def run(self, *, once: bool = False) -> int:
        """
        Run until stopped (or, with `once`, until nothing is due). Returns carts processed.
        """
        structlog.contextvars.bind_contextvars(worker_id=self.id)
        self._register()
        processed, failures = 0, 0
        try:
            while not self._stop.is_set():
                try:
                    report = self.run_pass()
                    created = self.offer_pass()
                    dispatched = self.dispatch_pass()
                except DBAPIError as error:
                    failures += 1
                    self._metrics.worker_errors.inc()
                    log.warning("worker.pass.failed", error=str(error.orig or error)[:300])
                    if once:
                        raise
                    self._stop.wait(self._backoff(failures))
                    continue
                failures = 0
                processed += report.processed + dispatched.processed
                self._beat()
                self.purge_if_due()
                self.complete_held_out_if_due()
                self.revoke_offers_if_due()
                self.expire_memberships_if_due()
                self.sync_audiences_if_due()
                self.send_conversions_if_due()
                self.deliver_webhooks_if_due()
                self.check_health_if_due()
                if once:
                    self.refresh_report_snapshot_if_due()
                else:
                    self._refresh_report_snapshot_aside()
                busy = max(report.processed, dispatched.processed, created)
                if busy >= self._config.batch_size or dispatched.statuses.get("scheduled"):
                    continue  # more may be due right now
                if once:
                    break
                self._idle(self.idle_seconds())
        finally:
            self._unregister()
            structlog.contextvars.unbind_contextvars("worker_id")
        return processed

    def run_pass(self) -> TimerReport:
        """
        One claim-decide-write transaction over due carts.
        """
        report = process_due_carts(
            uow=self._uow_factory(), clock=self._clock, limit=self._config.batch_size
        )
        for outcome, count in report.outcomes.items():
            self._metrics.timers_fired.labels(outcome=outcome.value).inc(count)
        for seconds in report.lateness:
            self._metrics.abandon_lateness.observe(max(seconds, 0.0))
        return report

    def offer_pass(self) -> int:
        """
        Create the codes touches wait for on their stores' platforms. Returns how many
        platform answers were recorded.
        """
        if not self._channels:
            return 0
        report = create_pending_offers(
            uow_factory=self._uow_factory, clock=self._clock, platforms=self._offers
        )
        return report.processed

    def dispatch_pass(self) -> DispatchReport:
        """
        One pass of the send protocol over due touches (`services.dispatch`).
        """
        if not self._channels or self._composer is None:
            return DispatchReport()
        report = dispatch_due_touches(
            uow_factory=self._uow_factory,
            clock=self._clock,
            channels=self._channels,
            config=DispatchConfig(
                worker_id=self.id,
                composer=self._composer,
                limit=self._config.batch_size,
                lease=self._config.lease,
                throttle=self._throttle,
                offers=self._offers,
            ),
        )
        for status, count in report.statuses.items():
            self._metrics.touches_dispatched.labels(status=status).inc(count)
        for check, count in report.quality.items():
            self._metrics.quality_check_failures.labels(check=check).inc(count)
        for seconds in report.latency:
            self._metrics.due_to_sent.observe(max(seconds, 0.0))
        return report

    def purge_if_due(self) -> bool:
        """
        Run the retention purge when `retention_interval` has passed since the last one (or
        none ran yet). A failure is logged and counted; the timers go on. True if it ran.
        """
        now = self._clock.now()
        last = self._last_purge
        if last is not None and now - last < self._config.retention_interval:
            return False
        self._last_purge = now
        try:
            report = purge_expired(
                uow_factory=self._uow_factory,
                clock=self._clock,
                max_batches=self._config.retention_batches,
            )
        except DBAPIError as error:
            self._metrics.worker_errors.inc()
            log.warning("retention.failed", error=str(error.orig or error)[:300])
            return True
        for kind, count in report.purged.items():
            self._metrics.retention_purged.labels(kind=kind).inc(count)
        return True

    def complete_held_out_if_due(self) -> bool:
        """
        End finished control-group enrollments, at most every `held_out_interval`.
        """
        if not self._channels:
            return False
        return self._every(
            "held_out",
            self._config.held_out_interval,
            lambda: complete_held_out(uow_factory=self._uow_factory, clock=self._clock),
        )

    def revoke_offers_if_due(self) -> bool:
        """
        Remove expired unused and superseded codes from their platforms, at most every
        `revoke_interval`.
        """
        if not self._channels:
            return False
        return self._every(
            "offer.revoke",
            self._config.revoke_interval,
            lambda: revoke_offers(
                uow_factory=self._uow_factory, clock=self._clock, platforms=self._offers
            ),
        )

    def expire_memberships_if_due(self) -> bool:
        """
        End audience memberships whose window is over, at most every `expire_interval`.
        """
        if not self._channels:
            return False
        return self._every(
            "audience.expire",
            self._config.expire_interval,
            lambda: expire_memberships(uow_factory=self._uow_factory, clock=self._clock),
        )

    def send_conversions_if_due(self) -> bool:
        """
        Send pixel stores' new conversion events to Meta, at most every `conversions_interval`.
        """
        sender, box = self._conversions, self._box
        if sender is None or box is None:
            return False
        return self._every(
            "conversions",
            self._config.conversions_interval,
            lambda: send_conversions(
                uow_factory=self._uow_factory,
                clock=self._clock,
                box=box,
                sender=sender,
                limit=self._config.conversions_limit,
            ),
        )

    def sync_audiences_if_due(self) -> bool:
        """
        Push what changed in the stores' mapped audiences to the ad networks, at most every
        `audience_sync_interval`.
        """
        pushers, box = self._audience_pushers, self._box
        if pushers is None or box is None:
            return False
        return self._every(
            "audience.sync",
            self._config.audience_sync_interval,
            lambda: sync_audiences(
                uow_factory=self._uow_factory, clock=self._clock, box=box, pushers=pushers
            ),
        )

    def deliver_webhooks_if_due(self) -> bool:
        """
        Attempt due outbound webhooks, at most every `webhook_interval`.
        """
        config = self._webhooks
        if config is None:
            return False

        def run() -> None:
            report = deliver_due_webhooks(
                uow_factory=self._uow_factory, clock=self._clock, config=config
            )
            for outcome, count in report.statuses.items():
                self._metrics.webhook_deliveries.labels(outcome=outcome).inc(count)

        return self._every("webhook", self._config.webhook_interval, run)

    def check_health_if_due(self) -> bool:
        """
        Open or resolve store health alerts, at most every `health_interval`.
        """

        def run() -> None:
            report = check_health(uow_factory=self._uow_factory, clock=self._clock)
            for kind in AlertKind:
                count = sum(1 for alert in report.open_now if alert.kind is kind)
                self._metrics.store_alerts_open.labels(kind=kind.value).set(count)

        return self._every("health", self._config.health_interval, run)

    def refresh_report_snapshot_if_due(self) -> bool:
        """
        Recompute one store's overview snapshot (none yet, else the oldest past
        `report_snapshot_every`), at most every `report_snapshot_interval`.
        """
        return self._every(
            "report.snapshot",
            self._config.report_snapshot_interval,
            lambda: refresh_stalest(
                uow_factory=self._uow_factory,
                clock=self._clock,
                every=self._config.report_snapshot_every,
            ),
        )

    def _refresh_report_snapshot_aside(self) -> None:
        """
        The snapshot refresh in a thread of its own, one at a time: a report over a big store
        takes seconds, and the timers (due within 2 s) and sends must not wait for it.
        """
        running = self._snapshot_thread
        if running is not None and running.is_alive():
            return
        if not self._due("report.snapshot", self._config.report_snapshot_interval):
            return
        self._snapshot_thread = threading.Thread(
            target=self._refresh_report_snapshot_logged, name="report-snapshot", daemon=True
        )
        self._snapshot_thread.start()

    def _refresh_report_snapshot_logged(self) -> None:
        try:
            self.refresh_report_snapshot_if_due()
        except Exception:  # a thread's error must reach the log, not stderr
            self._metrics.worker_errors.inc()
            log.exception("report.snapshot.pass.failed")

    def _due(self, task: str, interval: timedelta) -> bool:
        last = self._last_runs.get(task)
        return last is None or self._clock.now() - last >= interval

    def _every(self, task: str, interval: timedelta, run: Callable[[], object]) -> bool:
        """
        Run a periodic task when `interval` has passed since it last ran (or it never did).
        A database failure is logged and counted; the worker goes on. True if it ran.
        """
        if not self._due(task, interval):
            return False
        self._last_runs[task] = self._clock.now()
        try:
            run()
        except DBAPIError as error:
            self._metrics.worker_errors.inc()
            log.warning(f"{task}.pass.failed", error=str(error.orig or error)[:300])
        return True

    def idle_seconds(self) -> float:
        """
        Until the earliest pending timer, but never longer than the poll interval: a new cart
        may become due sooner than anything already scheduled.
        """
        poll = self._config.poll_interval.total_seconds()
        try:
            with self._uow_factory(read_only=True) as uow:
                moments = [uow.carts.next_check_at()]
                if self._channels:
                    moments.append(uow.touches.next_due_at())
        except DBAPIError:
            return poll
        pending = [m for m in moments if m is not None]
        if not pending:
            return poll
        next_at = min(pending)
        wait = (next_at - self._clock.now()).total_seconds()
        return min(max(wait, 0.0), poll)

    def _idle(self, seconds: float) -> None:
        """
        Sleep until `seconds` pass, a notification wakes the worker, or it is stopped.
        """
        self._wake.wait(seconds)
        self._wake.clear()

    def _backoff(self, failures: int) -> float:
        return min(0.5 * 2.0 ** (failures - 1), MAX_BACKOFF.total_seconds())

    def _register(self) -> None:
        for attempt in range(30):
            try:
                with self._uow_factory() as uow:
                    uow.workers.register(
                        worker_id=self.id,
                        name=self._config.name,
                        hostname=socket.gethostname(),
                        pid=os.getpid(),
                        now=self._clock.now(),
                    )
                    uow.commit()
                log.info("worker.started", name=self._config.name)
                self._last_heartbeat = self._clock.now()
                return
            except DBAPIError as error:
                log.warning("worker.register.failed", attempt=attempt, error=str(error.orig)[:200])
                if self._stop.wait(self._backoff(attempt + 1)):
                    return
        raise RuntimeError("the worker could not reach the database")

    def _beat(self) -> None:
        now = self._clock.now()
        due = self._last_heartbeat is None or (
            now - self._last_heartbeat >= self._config.heartbeat_interval
        )
        if not due:
            return
        try:
            with self._uow_factory() as uow:
                uow.workers.heartbeat(self.id, now=now)
                uow.commit()
        except DBAPIError as error:
            # A missed heartbeat is retried after the next pass; it must not stop the worker.
            self._metrics.worker_errors.inc()
            log.warning("worker.heartbeat.failed", error=str(error.orig or error)[:200])
            return
        self._last_heartbeat = now

    def _unregister(self) -> None:
        try:
            with self._uow_factory() as uow:
                uow.workers.stop(self.id, now=self._clock.now())
                uow.commit()
            log.info("worker.stopped")
        except DBAPIError:
            log.warning("worker.unregister.failed")


def run_workers(workers: list[Worker], *, once: bool = False) -> int:
    """
    Run workers on threads (one claim loop each) until all return.

    A loop that fails stops the others, and its error is raised here once all have returned,
    so the process does not report success while running fewer loops than asked.
    """
    if len(workers) == 1:
        return workers[0].run(once=once)
    results: list[int] = []
    errors: list[Exception] = []

    def run(worker: Worker) -> None:
        try:
            results.append(worker.run(once=once))
        except Exception as error:
            errors.append(error)
            for other in workers:
                other.stop()

    threads = [threading.Thread(target=run, args=(w,), name=w.id) for w in workers]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        time.sleep(0.2)
    if errors:
        raise errors[0]
    return sum(results)
