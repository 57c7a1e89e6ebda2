"""
An HTTP client opened on first use: opening one loads the system's CA certificates (tens of
milliseconds), which a worker that never calls that service should not pay at start.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import httpx


class LazyClient:
    """
    Holds a factory; `get()` opens the client once (thread-safe), `close()` closes it if opened.
    """

    def __init__(self, open_client: Callable[[], httpx.Client]) -> None:
        self._open = open_client
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def get(self) -> httpx.Client:
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._open()
                client = self._client
        return client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


__all__ = ["LazyClient"]
