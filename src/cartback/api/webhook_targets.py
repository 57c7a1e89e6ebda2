"""
Which store a webhook is for, and the secrets that verify it, cached briefly: a platform may
deliver hundreds of webhooks a second for one store.
"""

from __future__ import annotations

import threading
import time

from cartback.domain.errors import NotFound
from cartback.domain.ports import UnitOfWorkFactory
from cartback.domain.stores import Store
from cartback.kit.keys import SecretBox
from cartback.services.stores import webhook_target

#: A new or rotated secret is used within this many seconds.
CACHE_SECONDS = 30.0


class WebhookTargets:
    """
    Store id → (store, opened secrets), from the database at most every 30 s per store.
    """

    def __init__(self, uow_factory: UnitOfWorkFactory, box: SecretBox) -> None:
        self._uow_factory = uow_factory
        self._box = box
        self._cache: dict[str, tuple[Store, list[str], float]] = {}
        self._lock = threading.Lock()

    def resolve(self, store_id: str) -> tuple[Store, list[str]]:
        """
        The store and its secrets.

        Raises:
            NotFound: no such store.
        """
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(store_id)
        if cached is not None and cached[2] > now:
            return cached[0], cached[1]
        found = webhook_target(uow=self._uow_factory(read_only=True), store_id=store_id)
        if found is None:
            raise NotFound("no such store")
        store, sealed = found
        secrets = [self._box.open(value) for value in sealed]
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[store_id] = (store, secrets, now + CACHE_SECONDS)
        return store, secrets
