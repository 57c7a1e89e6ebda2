"""
Who is calling: a server key (Bearer, or Basic with the key as user name, as Segment and
RudderStack SDKs send it, or `writeKey` in a batch body) or a public key (browser endpoints).
"""

from __future__ import annotations

import base64
import binascii
import threading
import time
from collections import OrderedDict

from starlette.requests import Request

from cartback.domain.errors import Forbidden, Unauthenticated
from cartback.domain.ports import UnitOfWorkFactory
from cartback.domain.stores import KeyKind, Principal
from cartback.services.stores import authenticate

#: A key's store is remembered this long, so ingestion does not read the keys table per event.
#: A revoked key stops working within this time.
CACHE_SECONDS = 30.0
_MAX_CACHED = 10_000


def key_from_headers(request: Request) -> str | None:
    """
    The key in the Authorization header (Bearer, or Basic with the key as user name), or in the
    `writeKey` query parameter.
    """
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[0] or None
    return request.query_params.get("writeKey") or None


class Authenticator:
    """
    Resolves keys to principals, with a short cache.
    """

    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uow_factory = uow_factory
        self._cache: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._lock = threading.Lock()

    def cached(self, key: str | None) -> Principal | None:
        """
        The principal for a key seen recently, without touching the database (None if unknown).
        """
        if not key:
            return None
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        return None

    def resolve(self, key: str | None) -> Principal:
        """
        The principal a key stands for.

        Raises:
            Unauthenticated: no key, or an unknown or revoked one.
        """
        if not key:
            raise Unauthenticated("a key is required: send `Authorization: Bearer <key>`")
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        principal = authenticate(uow=self._uow_factory(read_only=True), key=key)
        if principal is None:
            raise Unauthenticated("the key is not valid")
        with self._lock:
            self._cache[key] = (principal, now + CACHE_SECONDS)
            self._cache.move_to_end(key)
            while len(self._cache) > _MAX_CACHED:
                self._cache.popitem(last=False)
        return principal

    def forget(self) -> None:
        """
        Drop every cached principal (after a store changed).
        """
        with self._lock:
            self._cache.clear()


def require_server_key(principal: Principal) -> Principal:
    """
    Refuse public keys on server endpoints.

    Raises:
        Forbidden: a public key was used.
    """
    if principal.kind is not KeyKind.SECRET:
        raise Forbidden("public keys may only send browser events; use the server key")
    return principal
