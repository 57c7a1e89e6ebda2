"""
Control-group enrollments end when their sequence would have: the worker completes them once
every withheld touch is due, so a held-out contact is free for their next cart's flow.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from test_recovery_engine import _with_holdout, leave_cart, run, shop, worker

from cartback.bootstrap import Container
from cartback.domain.touches import EnrollmentStatus
from cartback.engine.clock import SimulatedClock
from cartback.engine.worker import Worker
from cartback.services import enrollment
from cartback.services.stores import CreatedStore

__all__ = ["shop", "worker"]  # fixtures shared with the recovery engine's tests


def _enrollment_status(container: Container, cart_id: str) -> list[EnrollmentStatus]:
    with container.uow_factory(read_only=True) as uow:
        return [e.status for e in uow.enrollments.for_cart(cart_id)]


def test_a_held_out_enrollment_completes_after_its_last_withheld_touch(
    client: TestClient,
    shop: Callable[..., CreatedStore],
    clock: SimulatedClock,
    worker: Worker,
    container: Container,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """
    Before the last withheld touch is due the enrollment stays active; after it, it is
    `completed`.
    """
    # given: everyone in the control group
    monkeypatch.setattr(enrollment, "_parsed", _with_holdout(1.0))
    store = shop()
    leave_cart(client, store, clock)
    clock.advance(timedelta(minutes=31))
    run(worker)
    record_id = _cart_record_id(container, store)
    # when: a day in (two withheld touches still ahead)
    clock.advance(timedelta(days=1))
    worker.complete_held_out_if_due()
    during = _enrollment_status(container, record_id)
    # when: past the last one (72 h after the trigger)
    clock.advance(timedelta(days=3))
    worker.complete_held_out_if_due()
    # then
    assert [EnrollmentStatus.ACTIVE] == during
    assert [EnrollmentStatus.COMPLETED] == _enrollment_status(container, record_id)


def _cart_record_id(container: Container, store: CreatedStore) -> str:
    with container.uow_factory(read_only=True) as uow:
        record = uow.carts.get(store.store.id, "c-1")
    assert record is not None
    return record.id
