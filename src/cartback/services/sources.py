"""
What the sources sent that nothing understood: track event names no translator maps, counted
per store, so a misnamed storefront event is found the day it first arrives.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import replace

import structlog

from cartback.domain.errors import FieldError, InvalidInput, NotFound
from cartback.domain.ingest import Inbound, MessageKind
from cartback.domain.ports import UnitOfWork, UnmappedEvent
from cartback.domain.stores import Store
from cartback.domain.time import Clock

log = structlog.get_logger(__name__)

#: Sources whose event names are free text chosen by the sender (Segment and RudderStack SDKs,
#: the storefront snippet). A platform webhook's topics come from a fixed list instead.
FREE_FORM_SOURCES = frozenset({"segment"})
DEFAULT_LIMIT = 100
#: Where a store keeps its event aliases, in its settings.
ALIASES_SETTING = "event_aliases"
MAX_ALIASES = 200
MAX_NAME = 200


def unmapped_names(messages: Iterable[Inbound]) -> Counter[str]:
    """
    How many times each track event name that nothing translated appears in `messages`.
    """
    return Counter(
        message.name
        for message in messages
        if message.kind is MessageKind.TRACK
        and message.event is None
        and message.name
        and message.source in FREE_FORM_SOURCES
    )


def list_unmapped(
    *, uow: UnitOfWork, store_id: str, limit: int = DEFAULT_LIMIT
) -> list[UnmappedEvent]:
    """
    A store's unmapped event names, most recently seen first.
    """
    with uow:
        return uow.unmapped_events.list_recent(store_id, limit=limit)


def event_aliases(store: Store) -> dict[str, str]:
    """
    A store's own event names and the Cartback events they stand for (both as matched:
    lower case, single spaces).
    """
    stored = store.settings.get(ALIASES_SETTING)
    if not isinstance(stored, dict):
        return {}
    return {str(k): str(v) for k, v in stored.items()}


def set_event_alias(
    *, uow: UnitOfWork, clock: Clock, store_id: str, name: str, target: str | None
) -> dict[str, str]:
    """
    Map the store's event `name` to the Cartback event `target` (already checked by the caller,
    which knows the event names), or remove the mapping with None. Both as matched.

    Returns:
        The store's aliases afterwards.

    Raises:
        NotFound: no such store, or no alias to remove.
        InvalidInput: an empty or overlong name, or one alias too many.
    """
    if not 1 <= len(name) <= MAX_NAME:
        message = f"must be 1 to {MAX_NAME} characters"
        raise InvalidInput("invalid alias", errors=[FieldError(path="name", message=message)])
    with uow:
        store = uow.stores.get(store_id)
        if store is None:
            raise NotFound(f"no store {store_id!r}")
        aliases = event_aliases(store)
        if target is None:
            if aliases.pop(name, None) is None:
                raise NotFound(f"no alias for {name!r}")
        else:
            if name not in aliases and len(aliases) >= MAX_ALIASES:
                message = f"a store has at most {MAX_ALIASES} aliases"
                errors = [FieldError(path="name", message=message)]
                raise InvalidInput("invalid alias", errors=errors)
            aliases[name] = target
        settings = {**store.settings, ALIASES_SETTING: aliases}
        uow.stores.save(replace(store, settings=settings, updated_at=clock.now()))
        uow.commit()
    log.info("store.alias_changed", store_id=store_id, alias=name, target=target)
    return aliases
