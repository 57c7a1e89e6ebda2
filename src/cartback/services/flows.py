"""
Flow definitions for a store (`contract.md` §3, §7): apply a file, list and read what is
installed. A store that never applied a file runs the shipped defaults
(`cartback/flows/defaults.yaml`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

from cartback.domain.errors import NotFound
from cartback.domain.flows import FlowSet, defaults_json, flow_json, parse_flows
from cartback.domain.ports import StoredFlow, UnitOfWork
from cartback.domain.time import Clock


@dataclass(frozen=True, kw_only=True, slots=True)
class FlowView:
    """
    One flow as the commands and the API show it.
    """

    name: str
    version: int
    priority: int
    enabled: bool
    definition: Mapping[str, Any]


@dataclass(frozen=True, kw_only=True, slots=True)
class FlowListing:
    """
    A store's flows and where they come from: `applied` (its own file, at `version`) or
    `defaults` (nothing applied yet; the shipped flows run, version 0).
    """

    origin: Literal["applied", "defaults"]
    version: int
    flows: list[FlowView]
    defaults: Mapping[str, Any]


def shipped_source() -> str:
    """
    The text of the shipped default flows.
    """
    return resources.files("cartback.flows").joinpath("defaults.yaml").read_text("utf-8")


@lru_cache(maxsize=1)
def shipped_flows() -> FlowSet:
    """
    The shipped default flows, parsed once.
    """
    return parse_flows(shipped_source())


def apply_flows(*, uow: UnitOfWork, clock: Clock, store_id: str, text: str) -> FlowListing:
    """
    Validate `text` and make it the store's flows, all at once: flows not in the file are
    removed, every flow gets the store's next version.

    Raises:
        FlowsInvalid: every error in the file, with its line (nothing is changed).
        NotFound: no such store.
    """
    flow_set = parse_flows(text)
    now = clock.now()
    with uow:
        if uow.stores.get(store_id) is None:
            raise NotFound(f"no store {store_id!r}")
        current = {f.name: f for f in uow.flows.list_for_store(store_id)}
        version = max((f.version for f in current.values()), default=0) + 1
        records = [
            StoredFlow(
                store_id=store_id,
                name=flow.name,
                version=version,
                source=text,
                definition=flow_json(flow),
                priority=flow.priority,
                enabled=True,
                created_at=current[flow.name].created_at if flow.name in current else now,
                updated_at=now,
            )
            for flow in flow_set.flows
        ]
        uow.flows.replace(store_id, records)
        uow.commit()
    return _listing("applied", version, records, flow_set)


def list_flows(*, uow: UnitOfWork, store_id: str) -> FlowListing:
    """
    The store's flows, highest priority first; the shipped defaults if it applied none.

    Raises:
        NotFound: no such store.
    """
    with uow:
        if uow.stores.get(store_id) is None:
            raise NotFound(f"no store {store_id!r}")
        stored = uow.flows.list_for_store(store_id)
    if not stored:
        shipped = shipped_flows()
        views = [
            FlowView(
                name=f.name, version=0, priority=f.priority, enabled=True, definition=flow_json(f)
            )
            for f in sorted(shipped.flows, key=lambda f: (-f.priority, f.name))
        ]
        return FlowListing(
            origin="defaults", version=0, flows=views, defaults=defaults_json(shipped.defaults)
        )
    flow_set = parse_flows(stored[0].source)
    return _listing("applied", stored[0].version, stored, flow_set)


def get_flow(*, uow: UnitOfWork, store_id: str, name: str) -> FlowView:
    """
    One of the store's flows (or of the shipped defaults, if it applied none).

    Raises:
        NotFound: no such store, or no such flow in it.
    """
    listing = list_flows(uow=uow, store_id=store_id)
    for view in listing.flows:
        if view.name == name:
            return view
    raise NotFound(f"no flow {name!r} in this store")


def store_flow_set(*, uow: UnitOfWork, store_id: str) -> FlowSet:
    """
    The parsed flows the engine runs for the store: its applied file, else the shipped defaults.
    """
    with uow:
        stored = uow.flows.list_for_store(store_id)
    return parse_flows(stored[0].source) if stored else shipped_flows()


def _listing(
    origin: Literal["applied", "defaults"],
    version: int,
    records: list[StoredFlow],
    flow_set: FlowSet,
) -> FlowListing:
    views = [
        FlowView(
            name=r.name,
            version=r.version,
            priority=r.priority,
            enabled=r.enabled,
            definition=r.definition,
        )
        for r in sorted(records, key=lambda r: (-r.priority, r.name))
    ]
    return FlowListing(
        origin=origin, version=version, flows=views, defaults=defaults_json(flow_set.defaults)
    )
