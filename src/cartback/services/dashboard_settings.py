"""
The dashboard's settings page: what it shows of a store (settings, attribution windows, API
keys, the quiet hours its flows set) and its changes, each made by the same service as the
command line and the API (`update_store`, `configure_attribution`, `rotate_key`), after
checking the operator may see the store (`NotFound` otherwise, as for a store that does not
exist).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cartback.domain.errors import NotFound
from cartback.domain.operators import Operator
from cartback.domain.ports import StoredKey, UnitOfWorkFactory
from cartback.domain.reports import AttributionWindows
from cartback.domain.stores import KeyKind, Store
from cartback.domain.time import Clock
from cartback.services.api_keys import RotatedKey, rotate_key
from cartback.services.attribution_settings import attribution_windows, configure_attribution
from cartback.services.dashboard import access_store
from cartback.services.flows import list_flows
from cartback.services.stores import StoreSettings, update_store


@dataclass(frozen=True, kw_only=True, slots=True)
class SettingsView:
    """
    Everything the settings page shows of one store.
    """

    store: Store
    windows: AttributionWindows
    keys: list[StoredKey]
    #: Channel -> window (`21:00-08:00`), from the `defaults.quiet_hours` of the store's flows.
    quiet_hours: Mapping[str, str]
    #: `applied` (the store's own flow file) or `defaults` (the shipped flows).
    flows_origin: str


def settings_view(
    *, uow_factory: UnitOfWorkFactory, operator: Operator, store_id: str
) -> SettingsView:
    """
    The settings page of a store the operator may see.

    Raises:
        NotFound: no such store, or one the operator may not see.
    """
    with uow_factory(read_only=True) as uow:
        store = access_store(uow, operator, store_id)
        keys = uow.stores.keys(store_id)
    listing = list_flows(uow=uow_factory(read_only=True), store_id=store_id)
    quiet = listing.defaults.get("quiet_hours")
    return SettingsView(
        store=store,
        windows=attribution_windows(store),
        keys=keys,
        quiet_hours=dict(quiet) if isinstance(quiet, Mapping) else {},
        flows_origin=listing.origin,
    )


def change_store(
    *,
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    operator: Operator,
    store_id: str,
    settings: StoreSettings,
) -> Store:
    """
    `update_store` for an operator.

    Raises:
        NotFound: no such store, or one the operator may not see.
        InvalidInput: with every invalid field (nothing changed).
    """
    _visible(operator, store_id)
    return update_store(uow=uow_factory(), clock=clock, store_id=store_id, settings=settings)


def change_attribution(
    *,
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    operator: Operator,
    store_id: str,
    changes: Mapping[str, Any],
) -> AttributionWindows:
    """
    `configure_attribution` for an operator (None puts a window back to its default).

    Raises:
        NotFound: no such store, or one the operator may not see.
        InvalidInput: with every invalid field (nothing changed).
    """
    _visible(operator, store_id)
    return configure_attribution(uow=uow_factory(), clock=clock, store_id=store_id, **changes)


def rotate_store_key(
    *,
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    operator: Operator,
    store_id: str,
    kind: KeyKind,
) -> RotatedKey:
    """
    `rotate_key` for an operator.

    Raises:
        NotFound: no such store, or one the operator may not see.
    """
    _visible(operator, store_id)
    return rotate_key(uow=uow_factory(), clock=clock, store_id=store_id, kind=kind)


def _visible(operator: Operator, store_id: str) -> None:
    # The store's existence is the service's to check (NotFound, the same answer).
    if not operator.may_see(store_id):
        raise NotFound("no such store")
