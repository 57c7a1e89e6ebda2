"""
A store's API keys: listing them (prefixes and dates, never the keys) and rotating one kind.

Rotation makes a new key and revokes every active key of that kind in the same transaction,
at once, with no grace period: a key is rotated because it leaked (or someone who knew it
left), and a leaked key that keeps working for a day is still a leaked key. The API stops
accepting the old key on the next request in the process that rotated it, and within
`api.auth.CACHE_SECONDS` in every other process. Used by `cartback store rotate-key` and the
dashboard's settings page.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from cartback.domain.errors import FieldError, InvalidInput, NotFound
from cartback.domain.ports import StoredKey, UnitOfWork
from cartback.domain.stores import KeyKind
from cartback.domain.time import Clock
from cartback.kit.keys import digest_key, generate_key, shown_prefix

log = structlog.get_logger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class RotatedKey:
    """
    The new key, shown this once (only its digest is kept), and how many old ones were revoked.
    """

    store_id: str
    kind: KeyKind
    key: str
    prefix: str
    revoked: int


def key_kind(value: str) -> KeyKind:
    """
    The kind of key named `value` (`secret` or `public`).

    Raises:
        InvalidInput: any other name.
    """
    try:
        return KeyKind(value.strip().lower())
    except ValueError:
        raise InvalidInput(
            "unknown key kind",
            errors=[FieldError(path="kind", message="must be secret or public")],
        ) from None


def list_keys(*, uow: UnitOfWork, store_id: str) -> list[StoredKey]:
    """
    The store's keys, revoked ones too, newest first.

    Raises:
        NotFound: no such store.
    """
    with uow:
        if uow.stores.get(store_id) is None:
            raise NotFound(f"no store {store_id!r}")
        return uow.stores.keys(store_id)


def rotate_key(*, uow: UnitOfWork, clock: Clock, store_id: str, kind: KeyKind) -> RotatedKey:
    """
    Make a new key of `kind` for the store and revoke its other keys of that kind, at once.

    Raises:
        NotFound: no such store.
    """
    key = generate_key(kind)
    now = clock.now()
    with uow:
        if uow.stores.get(store_id) is None:
            raise NotFound(f"no store {store_id!r}")
        revoked = uow.stores.revoke_keys(store_id=store_id, kind=kind, at=now)
        uow.stores.add_key(
            store_id=store_id,
            kind=kind,
            prefix=shown_prefix(key),
            digest=digest_key(key),
            created_at=now,
        )
        uow.commit()
    log.info("store.key.rotated", store_id=store_id, kind=kind.value, revoked=revoked)
    return RotatedKey(
        store_id=store_id, kind=kind, key=key, prefix=shown_prefix(key), revoked=revoked
    )
