"""
LISTEN/NOTIFY wake-up on PostgreSQL: a transaction that writes a touch which may be due soon
notifies `cartback_due` as it commits (`mark_due_work`, `notify_if_marked`), and each worker
process keeps one listening connection that wakes its loops at once instead of at their next
poll. Polling stays the fallback: a lost listener only costs latency, and it reconnects with
back-off.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import psycopg
import structlog
from sqlalchemy import Connection, Engine, text

log = structlog.get_logger(__name__)

CHANNEL = "cartback_due"
_MARK = "cartback.due_work"
#: How long the listener blocks per wait: bounds how long `stop()` takes.
_WAIT_SECONDS = 0.1
_MAX_BACKOFF_SECONDS = 8.0


def mark_due_work(connection: Connection) -> None:
    """
    Note that this transaction wrote work a worker may have to do soon (PostgreSQL only).
    """
    if connection.dialect.name == "postgresql":
        connection.info[_MARK] = True


def notify_if_marked(connection: Connection) -> None:
    """
    Before the commit: notify the listeners if the transaction wrote due work. The notification
    is delivered only when the transaction commits, and once per transaction.
    """
    if connection.info.pop(_MARK, False):
        connection.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


def forget_marks(connection: Connection) -> None:
    """
    After a rollback: nothing was written, nobody is woken.
    """
    connection.info.pop(_MARK, None)


class DueListener:
    """
    One LISTEN connection per process, calling `on_wake` for every notification.
    """

    def __init__(self, engine: Engine, on_wake: Callable[[], None]) -> None:
        self._conninfo = engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        self._on_wake = on_wake
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Set while a listening connection is open (tests wait for it).
        self.listening = threading.Event()

    def start(self) -> None:
        """
        Listen on a background thread until `stop()`.
        """
        self._thread = threading.Thread(target=self._run, name="cartback-listen", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """
        Stop listening and close the connection.
        """
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self._listen()
                failures = 0
            except psycopg.Error as error:
                self.listening.clear()
                failures += 1
                log.warning("worker.listen.failed", error=str(error)[:200], failures=failures)
                self._stop.wait(min(0.5 * 2.0 ** (failures - 1), _MAX_BACKOFF_SECONDS))

    def _listen(self) -> None:
        with psycopg.connect(
            self._conninfo, autocommit=True, application_name="cartback-listen"
        ) as connection:
            connection.execute(f"LISTEN {CHANNEL}")
            self.listening.set()
            # A notification sent while no one listened is lost: wake once on (re)connecting.
            self._on_wake()
            while not self._stop.is_set():
                for _ in connection.notifies(timeout=_WAIT_SECONDS):
                    self._on_wake()
        self.listening.clear()
