"""
`record_click` on fakes: the first click is stamped once; `exit_on: [clicked]` ends the
enrollment at it. The link's lifetime setting: `restore_link_expiry`, kept apart in `links`.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from cartback.domain.errors import InvalidInput
from cartback.domain.stores import Store
from cartback.domain.touches import EnrollmentStatus, TouchStatus
from cartback.engine.clock import SimulatedClock
from cartback.services.clicks import record_click
from cartback.services.flows import apply_flows
from cartback.services.message_settings import (
    DEFAULT_RESTORE_LINK_EXPIRY,
    message_settings,
    restore_link_expiry,
    update_message_settings,
)
from fakes import FakeDatabase, FakeUnitOfWorkFactory
from helpers import enrolled_touch

EXIT_ON_CLICK = """
flows:
  - name: cart-recovery
    trigger: {stages: [cart], inactive_for: 30m}
    exit_on: [ordered, clicked]
    steps:
      - {wait: 1h, channel: email, template: cart-reminder}
"""


def _touch_id(database: FakeDatabase, shop: Store, clock: SimulatedClock) -> str:
    now = clock.now()
    _, enrollment, touch = enrolled_touch(
        store_id=shop.id, contact_id="ct_1", key="k", now=now, due_at=now + timedelta(hours=1)
    )
    database.enrollments[enrollment.id] = enrollment
    database.touches[touch.id] = touch
    return str(touch.id)


def test_only_the_first_click_is_stamped(
    uow_factory: FakeUnitOfWorkFactory, database: FakeDatabase, shop: Store, clock: SimulatedClock
) -> None:
    """
    Two clicks: True then False, and the touch keeps the first time.
    """
    # given
    touch_id = _touch_id(database, shop, clock)
    first = clock.now()

    # when
    answers = [record_click(uow=uow_factory(), touch_id=touch_id, now=first)]
    answers.append(
        record_click(uow=uow_factory(), touch_id=touch_id, now=first + timedelta(hours=1))
    )

    # then
    assert [True, False] == answers
    assert first == database.touches[touch_id].clicked_at


def test_a_click_on_an_unknown_touch_counts_nothing(
    uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock
) -> None:
    """
    An erased touch: no click, no error.
    """
    # when / then
    assert not record_click(uow=uow_factory(), touch_id="tc_gone", now=clock.now())


def test_a_flow_that_exits_on_clicked_ends_at_the_first_click(
    uow_factory: FakeUnitOfWorkFactory, database: FakeDatabase, shop: Store, clock: SimulatedClock
) -> None:
    """
    The enrollment is cancelled `clicked`, and its scheduled touch with it.
    """
    # given
    apply_flows(uow=uow_factory(), clock=clock, store_id=shop.id, text=EXIT_ON_CLICK)
    touch_id = _touch_id(database, shop, clock)

    # when
    record_click(uow=uow_factory(), touch_id=touch_id, now=clock.now())

    # then
    touch = database.touches[touch_id]
    enrollment = database.enrollments[touch.enrollment_id]
    assert (EnrollmentStatus.CANCELLED, "clicked") == (enrollment.status, enrollment.reason)
    assert (TouchStatus.CANCELLED, "clicked") == (touch.status, touch.reason)


def test_the_link_lifetime_is_kept_in_the_links_section(
    uow_factory: FakeUnitOfWorkFactory, database: FakeDatabase, shop: Store, clock: SimulatedClock
) -> None:
    """
    `restore_link_expiry: 7d` is stored as seconds under `links`, read back as 7 days, and
    reset to the 30-day default with None.
    """
    # when
    saved = update_message_settings(
        uow=uow_factory(), clock=clock, store_id=shop.id, changes={"restore_link_expiry": "7d"}
    )

    # then
    stored = database.stores[shop.id]
    assert {"restore_expires_in": 7 * 86400} == stored.settings["links"]
    assert timedelta(days=7) == restore_link_expiry(stored) == saved.restore_link_expiry
    assert "7d" == message_settings(stored).to_json()["restore_link_expiry"]
    update_message_settings(
        uow=uow_factory(), clock=clock, store_id=shop.id, changes={"restore_link_expiry": None}
    )
    assert DEFAULT_RESTORE_LINK_EXPIRY == restore_link_expiry(database.stores[shop.id])


@pytest.mark.parametrize("value", ["30m", "400d", "soon", ""])
def test_a_lifetime_out_of_bounds_is_refused(
    uow_factory: FakeUnitOfWorkFactory, shop: Store, clock: SimulatedClock, value: str
) -> None:
    """
    From one hour to a year, written as a duration.
    """
    # when / then
    with pytest.raises(InvalidInput):
        update_message_settings(
            uow=uow_factory(), clock=clock, store_id=shop.id, changes={"restore_link_expiry": value}
        )
