"""
Report snapshots' values: the setting reads durations as the docs write them, and a
snapshot's days are its report's period in the store's time zone.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from cartback.domain.report_snapshots import OVERVIEW_PERIOD, ReportSnapshot
from cartback.settings import Settings


def test_the_snapshot_interval_defaults_to_10_minutes_and_reads_2m(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """
    `CARTBACK_REPORT_SNAPSHOT_EVERY` is 10 minutes unless set; `2m` is two minutes.
    """
    # given
    default = Settings().report_snapshot_every
    monkeypatch.setenv("CARTBACK_REPORT_SNAPSHOT_EVERY", "2m")
    # when
    changed = Settings().report_snapshot_every
    # then
    assert (timedelta(minutes=10), timedelta(minutes=2)) == (default, changed)


def test_a_snapshots_days_are_its_reports_period_with_the_last_day_included() -> None:
    """
    `from` 2026-10-30 00:00 and `to` 2026-11-29 00:00 (New York) are the days 10-30 to 11-28.
    """
    # given
    snapshot = ReportSnapshot(
        store_id="st_1",
        period=OVERVIEW_PERIOD,
        computed_at=datetime(2026, 11, 28, 12, tzinfo=UTC),
        report={"from": "2026-10-30T00:00:00-04:00", "to": "2026-11-29T00:00:00-05:00"},
    )
    # when / then
    assert (date(2026, 10, 30), date(2026, 11, 28)) == (snapshot.first_day, snapshot.last_day)


def test_a_snapshot_refuses_a_naive_time() -> None:
    """
    `computed_at` must carry its zone.
    """
    # given
    naive = datetime(2026, 1, 1)  # noqa: DTZ001 (the mistake under test)
    # when / then
    with pytest.raises(ValueError, match="computed_at"):
        ReportSnapshot(store_id="st_1", period=OVERVIEW_PERIOD, computed_at=naive, report={})
