"""
Prometheus metrics, registered on a registry of their own (never the global one), so tests and
several apps in one process do not collide.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """
    Every metric Cartback exports.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.events_ingested = Counter(
            "cartback_events_ingested",
            "Messages received, by source and outcome (applied, duplicate, stale, ...).",
            ["source", "outcome"],
            registry=self.registry,
        )
        self.events_rejected = Counter(
            "cartback_events_rejected",
            "Messages refused at validation, by source.",
            ["source"],
            registry=self.registry,
        )
        self.ingest_batch_size = Histogram(
            "cartback_ingest_transaction_messages",
            "Messages committed per ingest transaction (group commit merges requests).",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2500),
            registry=self.registry,
        )
        self.requests_limited = Counter(
            "cartback_requests_rate_limited",
            "Requests answered 429, by key kind.",
            ["kind"],
            registry=self.registry,
        )
        self.timers_fired = Counter(
            "cartback_cart_timers_fired",
            "Cart timers that fired, by outcome (abandoned, lost, cleared).",
            ["outcome"],
            registry=self.registry,
        )
        self.abandon_lateness = Histogram(
            "cartback_abandon_lateness_seconds",
            "Seconds between a cart becoming due and the worker marking it abandoned.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
            registry=self.registry,
        )
        self.worker_errors = Counter(
            "cartback_worker_errors",
            "Worker passes that failed (database unreachable, ...).",
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "cartback_carts_due",
            "Carts whose timer is due and not yet processed.",
            registry=self.registry,
        )
        self.oldest_due_seconds = Gauge(
            "cartback_oldest_due_seconds",
            "How long the oldest due cart has waited.",
            registry=self.registry,
        )
        self.retention_purged = Counter(
            "cartback_retention_purged",
            "Rows purged by retention, by kind (carts, raw_events).",
            ["kind"],
            registry=self.registry,
        )
        self.touches_dispatched = Counter(
            "cartback_touches_dispatched_total",
            "Touches the worker decided or sent, by the status they ended the pass in.",
            ["status"],
            registry=self.registry,
        )
        self.quality_check_failures = Counter(
            "cartback_quality_check_failures_total",
            "Messages the send-time quality check stopped (never sent), by check "
            "(restore_link, offer, stock_claim); expected 0.",
            ["check"],
            registry=self.registry,
        )
        for check in ("restore_link", "offer", "stock_claim"):
            self.quality_check_failures.labels(check=check)  # exported at 0 from the start
        self.due_to_sent = Histogram(
            "cartback_touch_due_to_sent_seconds",
            "Seconds from a touch's due time to its recorded send.",
            registry=self.registry,
        )
        self.workers_alive = Gauge(
            "cartback_workers_alive",
            "Workers whose heartbeat is recent.",
            registry=self.registry,
        )
        self.webhook_deliveries = Counter(
            "cartback_webhook_deliveries_total",
            "Outbound webhook attempts by what followed (delivered, retry, failed, lost).",
            ["outcome"],
            registry=self.registry,
        )
        self.store_alerts_open = Gauge(
            "cartback_store_alerts_open",
            "Open store health alerts (events or orders stopped arriving), by kind.",
            ["kind"],
            registry=self.registry,
        )
