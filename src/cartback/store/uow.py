"""
The SQLAlchemy unit of work: one connection, one transaction, rolled back unless committed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Self

import psycopg
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from cartback.store.audience_reach import SqlAudienceReachRepository
from cartback.store.audience_syncs import SqlAudienceSyncRepository
from cartback.store.audiences import SqlAudienceRepository
from cartback.store.carts import SqlCartRepository
from cartback.store.catalog import SqlCatalogRepository
from cartback.store.dashboard import SqlDashboardRepository
from cartback.store.deliveries import SqlDeliveryEventRepository
from cartback.store.flows import SqlFlowRepository
from cartback.store.offers import SqlOfferRepository
from cartback.store.operators import SqlOperatorRepository
from cartback.store.optouts import (
    SqlInboundMessageRepository,
    SqlSmsConfirmationRepository,
    SqlSuppressionRepository,
)
from cartback.store.partners import SqlPartnerRepository
from cartback.store.privacy import SqlPrivacyRepository
from cartback.store.report_snapshots import SqlReportSnapshotRepository
from cartback.store.reports import SqlReportRepository
from cartback.store.repositories import (
    SqlConsentRepository,
    SqlContactRepository,
    SqlEventRepository,
    SqlOrderRepository,
    SqlStoreRepository,
    SqlVisitorRepository,
    SqlWorkerRepository,
)
from cartback.store.retention import SqlRetentionRepository
from cartback.store.short_links import SqlShortLinkRepository
from cartback.store.store_pages import SqlStorePagesRepository
from cartback.store.templates import SqlMessageTemplateRepository
from cartback.store.touches import (
    SqlEnrollmentRepository,
    SqlOutboxRepository,
    SqlTouchRepository,
)
from cartback.store.unmapped import SqlUnmappedEventRepository
from cartback.store.wakeup import forget_marks, notify_if_marked
from cartback.store.webhooks import SqlStoreAlertRepository, SqlWebhookRepository


class SqlUnitOfWork:
    """
    A transaction on one connection with every repository bound to it.
    """

    stores: SqlStoreRepository
    events: SqlEventRepository
    visitors: SqlVisitorRepository
    contacts: SqlContactRepository
    carts: SqlCartRepository
    orders: SqlOrderRepository
    workers: SqlWorkerRepository
    consents: SqlConsentRepository
    privacy: SqlPrivacyRepository
    retention: SqlRetentionRepository
    unmapped_events: SqlUnmappedEventRepository
    suppressions: SqlSuppressionRepository
    inbound_messages: SqlInboundMessageRepository
    sms_confirmations: SqlSmsConfirmationRepository
    flows: SqlFlowRepository
    enrollments: SqlEnrollmentRepository
    touches: SqlTouchRepository
    outbox: SqlOutboxRepository
    catalog: SqlCatalogRepository
    short_links: SqlShortLinkRepository
    offers: SqlOfferRepository
    partners: SqlPartnerRepository
    deliveries: SqlDeliveryEventRepository
    templates: SqlMessageTemplateRepository
    audience_reach: SqlAudienceReachRepository
    audiences: SqlAudienceRepository
    audience_syncs: SqlAudienceSyncRepository
    webhooks: SqlWebhookRepository
    alerts: SqlStoreAlertRepository
    reports: SqlReportRepository
    report_snapshots: SqlReportSnapshotRepository
    operators: SqlOperatorRepository
    dashboard: SqlDashboardRepository
    store_pages: SqlStorePagesRepository

    def __init__(self, engine: Engine, *, read_only: bool = False) -> None:
        self._engine = engine
        self._read_only = read_only
        self._connection: Connection | None = None

    def __enter__(self) -> Self:
        connection = self._engine.connect()
        if self._read_only:
            connection = connection.execution_options(cartback_read_only=True)
        connection.begin()
        self._connection = connection
        self.stores = SqlStoreRepository(connection)
        self.events = SqlEventRepository(connection)
        self.visitors = SqlVisitorRepository(connection)
        self.contacts = SqlContactRepository(connection)
        self.carts = SqlCartRepository(connection)
        self.orders = SqlOrderRepository(connection)
        self.workers = SqlWorkerRepository(connection)
        self.consents = SqlConsentRepository(connection)
        self.privacy = SqlPrivacyRepository(connection)
        self.retention = SqlRetentionRepository(connection)
        self.unmapped_events = SqlUnmappedEventRepository(connection)
        self.suppressions = SqlSuppressionRepository(connection)
        self.inbound_messages = SqlInboundMessageRepository(connection)
        self.sms_confirmations = SqlSmsConfirmationRepository(connection)
        self.flows = SqlFlowRepository(connection)
        self.enrollments = SqlEnrollmentRepository(connection)
        self.touches = SqlTouchRepository(connection)
        self.outbox = SqlOutboxRepository(connection)
        self.catalog = SqlCatalogRepository(connection)
        self.short_links = SqlShortLinkRepository(connection)
        self.offers = SqlOfferRepository(connection)
        self.partners = SqlPartnerRepository(connection)
        self.deliveries = SqlDeliveryEventRepository(connection)
        self.templates = SqlMessageTemplateRepository(connection)
        self.audience_reach = SqlAudienceReachRepository(connection)
        self.audiences = SqlAudienceRepository(connection)
        self.audience_syncs = SqlAudienceSyncRepository(connection)
        self.webhooks = SqlWebhookRepository(connection)
        self.alerts = SqlStoreAlertRepository(connection)
        self.reports = SqlReportRepository(connection)
        self.report_snapshots = SqlReportSnapshotRepository(connection)
        self.operators = SqlOperatorRepository(connection)
        self.dashboard = SqlDashboardRepository(connection)
        self.store_pages = SqlStorePagesRepository(connection)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            if connection.in_transaction():
                connection.rollback()
        finally:
            forget_marks(connection)
            connection.close()

    def commit(self) -> None:
        """
        Make the transaction's writes durable.
        """
        if self._connection is None:
            raise RuntimeError("commit() outside the unit of work")
        notify_if_marked(self._connection)
        self._connection.commit()

    def rollback(self) -> None:
        """
        Discard the transaction's writes.
        """
        if self._connection is not None:
            forget_marks(self._connection)
            self._connection.rollback()

    @contextmanager
    def pipelined(self) -> Iterator[None]:
        """
        On PostgreSQL, psycopg's pipeline mode: the statements inside are sent without waiting
        for each answer, and the block ends when the server has answered them all. A failure
        surfaces at the end of the block, raised as SQLAlchemy's error for it (so a unique-key
        race is still an `IntegrityError`). SQLite has no round trips to save.
        """
        if self._connection is None:
            raise RuntimeError("pipelined() outside the unit of work")
        driver = self._connection.connection.driver_connection
        if not isinstance(driver, psycopg.Connection):
            yield
            return
        try:
            with driver.pipeline():
                yield
        except psycopg.Error as error:
            raise DBAPIError.instance(
                None, None, error, psycopg.Error, dialect=self._connection.dialect
            ) from error


class SqlUnitOfWorkFactory:
    """
    Makes units of work on one engine.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __call__(self, *, read_only: bool = False) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, read_only=read_only)
