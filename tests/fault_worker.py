"""
A worker process for the fault tests (`tests/integration/test_dispatch_faults.py`): the real
container and the real `Worker`, built from the environment's settings (`CARTBACK_DATABASE_URL`,
`CARTBACK_WORKER_LEASE`, `CARTBACK_WORKER_POLL_INTERVAL`, ...), with a recording fake channel
in place of the configured ones.

    python tests/fault_worker.py SEND_LOG JOURNAL

The channel plays a provider that takes an idempotency key. `send` appends the touch id to
SEND_LOG, one line per call, with a single `os.write` on an `O_APPEND` descriptor (the file is
shared by every worker process: it is the provider's record of what it accepted), and `status`
looks the key up there. Around the call it writes `begin <id>` and `end <id>` to this process's
JOURNAL, so after a `kill -9` the test can tell whether the kill landed inside a send call.

With `FAULT_BATCH=1` the channel also takes batches (`send_many`, as the outbox does), so the
batched path of the send protocol is killed too.

`FAULT_SEND_DELAY` (seconds, default 0.004) is how long a call takes, split around the append
so kills land both before and after the provider accepted the message. An address starting
with `bounce` is refused for good (`SendFailed("bounced", transient=False)`).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from cartback._logging import configure_logging
from cartback.bootstrap import Container, bootstrap
from cartback.domain.consent import Channel
from cartback.domain.ports import MessageChannel, OutboundMessage
from cartback.domain.touches import SendFailed
from cartback.settings import Settings

#: A refused address: the provider answers a permanent error.
BOUNCE_PREFIX = "bounce"


class RecordingChannel:
    """
    A provider that records every call it accepts in a file shared by all worker processes.
    """

    def __init__(self, *, send_log: Path, journal: Path, delay: float) -> None:
        self._send_log = send_log
        self._log_fd = os.open(send_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._journal_fd = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._delay = delay

    def send(self, message: OutboundMessage, idempotency_key: str) -> str:
        """
        Accept the message (one line in the send log), or refuse a `bounce` address.
        """
        os.write(self._journal_fd, f"begin {idempotency_key}\n".encode())
        try:
            time.sleep(self._delay / 2)
            if message.to.startswith(BOUNCE_PREFIX):
                raise SendFailed("bounced", transient=False)
            # One write per call on an O_APPEND descriptor: lines from two processes never mix.
            os.write(self._log_fd, f"{idempotency_key}\n".encode())
            time.sleep(self._delay / 2)
            return f"fake-{idempotency_key}"
        finally:
            os.write(self._journal_fd, f"end {idempotency_key}\n".encode())

    def status(self, idempotency_key: str) -> str | None:
        """
        The provider's idempotency lookup: was a message accepted under this key?
        """
        accepted = self._send_log.read_text().splitlines()
        found = idempotency_key in accepted
        os.write(self._journal_fd, f"lookup {idempotency_key} {int(found)}\n".encode())
        return f"fake-{idempotency_key}" if found else None


class BatchRecordingChannel(RecordingChannel):
    """
    The same provider taking a batch in one call (as the outbox channel does): every message
    of the call is begun, then each accepted one is appended to the send log, then all end.
    """

    def send_many(self, messages: Sequence[tuple[OutboundMessage, str]]) -> list[str | SendFailed]:
        """
        Accept each message, or refuse a `bounce` address; answers in order.
        """
        keys = [key for _, key in messages]
        # As long as the messages one at a time would take: the run lasts long enough to kill.
        pause = self._delay * len(keys) / 2
        os.write(self._journal_fd, "".join(f"begin {key}\n" for key in keys).encode())
        try:
            time.sleep(pause)
            results: list[str | SendFailed] = []
            for message, key in messages:
                if message.to.startswith(BOUNCE_PREFIX):
                    results.append(SendFailed("bounced", transient=False))
                    continue
                os.write(self._log_fd, f"{key}\n".encode())
                results.append(f"fake-{key}")
            time.sleep(pause)
            return results
        finally:
            os.write(self._journal_fd, "".join(f"end {key}\n" for key in keys).encode())


@dataclasses.dataclass(kw_only=True)
class _FaultContainer(Container):
    """
    The real container with the recording channel as its only channel (email).
    """

    channel: RecordingChannel

    def channels(self) -> dict[Channel, MessageChannel]:
        return {Channel.EMAIL: self.channel}


def main(argv: list[str]) -> int:
    """
    Run one worker until SIGTERM (or SIGKILL, which is the point).
    """
    send_log, journal = Path(argv[1]), Path(argv[2])
    settings = Settings()
    configure_logging(level=settings.log_level, json_logs=True)
    built = bootstrap(settings, application_name="cartback-fault-worker")
    fields = {f.name: getattr(built, f.name) for f in dataclasses.fields(built)}
    delay = float(os.environ.get("FAULT_SEND_DELAY", "0.004"))
    kind = BatchRecordingChannel if os.environ.get("FAULT_BATCH") == "1" else RecordingChannel
    container = _FaultContainer(
        **fields, channel=kind(send_log=send_log, journal=journal, delay=delay)
    )
    worker = container.new_worker(name="fault")

    def stop(_signum: int, _frame: FrameType | None) -> None:
        worker.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        worker.run()
    finally:
        container.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
