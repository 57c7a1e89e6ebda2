"""
A store's outbound webhook endpoints: add (the URL checked against SSRF, a new signing secret
shown once and sealed at rest), list, remove.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog

from cartback.domain.destinations import (
    Destination,
    IPAddress,
    check_addresses,
    parse_destination,
)
from cartback.domain.errors import FieldError, InvalidInput, NotFound
from cartback.domain.ports import Resolver, UnitOfWork
from cartback.domain.time import Clock
from cartback.domain.webhooks import EventType, WebhookDelivery, WebhookEndpoint
from cartback.kit.ids import new_id
from cartback.kit.keys import SecretBox, generate_webhook_secret

log = structlog.get_logger(__name__)

#: Endpoints a store may have.
MAX_ENDPOINTS = 20
#: What an endpoint takes when no type is named.
ALL_TYPES: tuple[EventType, ...] = tuple(EventType)


@dataclass(frozen=True, kw_only=True, slots=True)
class DestinationPolicy:
    """
    How destinations are checked: the resolver, and the development allow list
    (`CARTBACK_WEBHOOK_ALLOW_HOSTS`: hosts that may use http and any address).
    """

    resolver: Resolver
    allow_hosts: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, kw_only=True, slots=True)
class CreatedEndpoint:
    """
    A new endpoint and its signing secret (shown this once).
    """

    endpoint: WebhookEndpoint
    secret: str


def check_destination(url: str, policy: DestinationPolicy) -> tuple[Destination, list[IPAddress]]:
    """
    Parse a URL and resolve its host, every address checked.

    Raises:
        UnsafeDestination: the URL or an address is refused (the reason names which).
    """
    destination = parse_destination(url, allow_hosts=policy.allow_hosts)
    if destination.address is not None:
        return destination, check_addresses(destination, [])
    resolved = policy.resolver.resolve(destination.host, destination.port)
    return destination, check_addresses(destination, resolved)


def event_types(names: Sequence[str] | None) -> tuple[EventType, ...]:
    """
    The types named (all of them when none is).

    Raises:
        InvalidInput: a name is not an event type (each with its index).
    """
    if not names:
        return ALL_TYPES
    known = {t.value: t for t in EventType}
    errors = [
        FieldError(
            path="event_types",
            index=index,
            message=f"unknown event type {name!r}; one of {', '.join(sorted(known))}",
        )
        for index, name in enumerate(names)
        if name not in known
    ]
    if errors:
        raise InvalidInput("unknown webhook event type", errors=errors)
    return tuple(dict.fromkeys(known[name] for name in names))


def add_endpoint(
    *,
    uow: UnitOfWork,
    clock: Clock,
    box: SecretBox,
    policy: DestinationPolicy,
    store_id: str,
    url: str,
    types: Sequence[str] | None = None,
) -> CreatedEndpoint:
    """
    Add an endpoint that takes `types` (all when none), with a new `whsec_` secret.

    Raises:
        InvalidInput: an unknown event type, or the store has `MAX_ENDPOINTS` already.
        UnsafeDestination: the URL is refused (checked before anything is written).
        NotFound: no such store.
    """
    chosen = event_types(types)
    check_destination(url, policy)  # outside the transaction: DNS may take a while
    now = clock.now()
    secret = generate_webhook_secret()
    endpoint = WebhookEndpoint(
        id=new_id("we"),
        store_id=store_id,
        url=url,
        event_types=chosen,
        sealed_secret=box.seal(secret),
        enabled=True,
        created_at=now,
        updated_at=now,
    )
    with uow:
        if uow.stores.get(store_id) is None:
            raise NotFound(f"no store {store_id!r}")
        if len(uow.webhooks.endpoints(store_id)) >= MAX_ENDPOINTS:
            raise InvalidInput(f"a store may have at most {MAX_ENDPOINTS} webhook endpoints")
        uow.webhooks.add_endpoint(endpoint)
        uow.commit()
    log.info("webhook.endpoint.added", store_id=store_id, endpoint_id=endpoint.id)
    return CreatedEndpoint(endpoint=endpoint, secret=secret)


def list_endpoints(*, uow: UnitOfWork, store_id: str) -> list[WebhookEndpoint]:
    """
    The store's endpoints, oldest first.
    """
    with uow:
        return uow.webhooks.endpoints(store_id)


def remove_endpoint(*, uow: UnitOfWork, store_id: str, endpoint_id: str) -> None:
    """
    Remove an endpoint and its deliveries.

    Raises:
        NotFound: the store has no such endpoint (another store's answers the same).
    """
    with uow:
        if not uow.webhooks.remove_endpoint(store_id, endpoint_id):
            raise NotFound(f"no webhook endpoint {endpoint_id!r} in this store")
        uow.commit()
    log.info("webhook.endpoint.removed", store_id=store_id, endpoint_id=endpoint_id)


def endpoint_deliveries(
    *, uow: UnitOfWork, store_id: str, endpoint_id: str, limit: int = 50
) -> list[WebhookDelivery]:
    """
    An endpoint's latest deliveries, newest first.

    Raises:
        NotFound: the store has no such endpoint.
    """
    with uow:
        if uow.webhooks.endpoint(store_id, endpoint_id) is None:
            raise NotFound(f"no webhook endpoint {endpoint_id!r} in this store")
        return uow.webhooks.deliveries(store_id, endpoint_id, limit=limit)
