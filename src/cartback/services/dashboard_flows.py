"""
The dashboard's flows page (`/admin/stores/{store}/flows`): the store's flows as installed
with their YAML source, a check of an edited file (the parser of `cartback flows apply`, then
the dry run of `cartback flows simulate` on the last days' carts), and the apply of a checked
file (`services.flows.apply_flows`). Scoped like every dashboard read (`access_store`).

A check hands back a digest of the text it checked, keyed by a per-session secret and the
store: an apply must carry it, so only the very text the operator saw checked is applied.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any, Literal

from cartback.domain.flows import defaults_json, flow_json, parse_flows
from cartback.domain.operators import Operator
from cartback.domain.ports import UnitOfWorkFactory
from cartback.domain.simulation_report import SimulationReport
from cartback.domain.stores import Store
from cartback.domain.time import Clock
from cartback.services.dashboard import access_store
from cartback.services.flows import FlowListing, apply_flows, shipped_flows, shipped_source
from cartback.services.simulation import simulate_flow_set

#: The dry run replays the carts that went idle in this many days, as the CLI does by default.
DRY_RUN_DAYS = 7


@dataclass(frozen=True, kw_only=True, slots=True)
class StoreFlows:
    """
    A store's flows as installed: `applied` (its own file, `version`, `source` as applied) or
    `defaults` (nothing applied; the shipped file runs, version 0). `flows` are the flows'
    plain JSON definitions (`domain.flows.flow_json`), highest priority first.
    """

    store: Store
    origin: Literal["applied", "defaults"]
    version: int
    source: str
    flows: list[dict[str, Any]]
    defaults: dict[str, Any]


@dataclass(frozen=True, kw_only=True, slots=True)
class FlowCheck:
    """
    A valid file's dry run and the digest an apply of the same text must carry.
    """

    store: Store
    report: SimulationReport
    digest: str


def store_flows(*, uow_factory: UnitOfWorkFactory, operator: Operator, store_id: str) -> StoreFlows:
    """
    The store's flows and their source, or the shipped defaults while it applied none.

    Raises:
        NotFound: the operator may not see the store (or there is no such store).
    """
    with uow_factory(read_only=True) as uow:
        store = access_store(uow, operator, store_id)
        stored = uow.flows.list_for_store(store.id)
    if not stored:
        shipped = shipped_flows()
        return StoreFlows(
            store=store,
            origin="defaults",
            version=0,
            source=shipped_source(),
            flows=_by_priority(flow_json(flow) for flow in shipped.flows),
            defaults=defaults_json(shipped.defaults),
        )
    source = stored[0].source
    return StoreFlows(
        store=store,
        origin="applied",
        version=stored[0].version,
        source=source,
        flows=_by_priority(dict(record.definition) for record in stored),
        defaults=defaults_json(parse_flows(source).defaults),
    )


def check_flows(
    *,
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    operator: Operator,
    store_id: str,
    text: str,
    secret: str,
) -> FlowCheck:
    """
    Validate `text` as `cartback flows apply` does and dry-run it on the store's carts that
    went idle in the last `DRY_RUN_DAYS` days (`simulate_flow_set`). Nothing is written.

    Args:
        secret: the session's secret that keys the digest (its CSRF token).

    Raises:
        NotFound: the operator may not see the store (or there is no such store).
        FlowsInvalid: every error in the file, with its line.
    """
    with uow_factory(read_only=True) as uow:
        store = access_store(uow, operator, store_id)
    flow_set = parse_flows(text)
    report = simulate_flow_set(
        uow=uow_factory(read_only=True),
        clock=clock,
        store_id=store.id,
        flow_set=flow_set,
        days=DRY_RUN_DAYS,
    )
    return FlowCheck(
        store=store,
        report=report,
        digest=checked_digest(secret=secret, store_id=store.id, text=text),
    )


def apply_checked_flows(
    *,
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    operator: Operator,
    store_id: str,
    text: str,
) -> FlowListing:
    """
    Make `text` the store's flows with the service of `cartback flows apply`.

    Raises:
        NotFound: the operator may not see the store (or there is no such store).
        FlowsInvalid: every error in the file, with its line (nothing is changed).
    """
    with uow_factory(read_only=True) as uow:
        store = access_store(uow, operator, store_id)
    return apply_flows(uow=uow_factory(), clock=clock, store_id=store.id, text=text)


def checked_digest(*, secret: str, store_id: str, text: str) -> str:
    """
    The digest a check hands out for `text`: HMAC-SHA256 keyed by the session's secret, over
    the store and the text, so it is good for this session, this store and this text only.
    """
    message = store_id.encode() + b"\n" + text.encode("utf-8")
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def is_checked(*, digest: str, secret: str, store_id: str, text: str) -> bool:
    """
    Whether `digest` is the one a check of this very text handed out (compared in constant
    time).
    """
    expected = checked_digest(secret=secret, store_id=store_id, text=text)
    return bool(digest) and hmac.compare_digest(digest, expected)


def _by_priority(definitions: Any) -> list[dict[str, Any]]:
    return sorted(definitions, key=lambda d: (-int(d["priority"]), str(d["name"])))
