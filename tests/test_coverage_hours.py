"""The coverage heat map's local hours against a minute-by-minute count, in zones whose
clocks change by part of an hour or at a part of an hour (app/services/coverage.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from app.services.coverage import HOURS_OF_WEEK, Hours
from app.services.reports import Range


def _minutes_per_hour_of_week(span: Range, zone: ZoneInfo) -> list[float]:
    counted = [0.0] * HOURS_OF_WEEK
    moment = span.start
    while moment < span.end:
        local = moment.astimezone(zone)
        counted[local.weekday() * 24 + local.hour] += 60.0
        moment += timedelta(minutes=1)
    return counted


@pytest.mark.parametrize(
    ("zone", "day"),
    [
        ("Pacific/Chatham", "2026-09-27"),  # 02:45 becomes 03:45
        ("Pacific/Chatham", "2026-04-05"),  # 03:45 becomes 02:45
        ("Australia/Lord_Howe", "2026-10-04"),  # 02:00 becomes 02:30
        ("Australia/Lord_Howe", "2027-04-04"),  # 02:00 becomes 01:30
        ("Asia/Kathmandu", "2026-12-04"),  # +05:45, no change
        ("America/Denver", "2026-03-08"),  # a whole hour
        ("America/Denver", "2026-11-01"),
    ],
)
def test_each_local_hour_gets_the_seconds_the_clock_spent_in_it(zone: str, day: str) -> None:
    """Chatham's clocks change at 02:45: the hours after the change were counted on the
    old clock, 60 minutes where 45 or 75 were spent (from the review of this change)."""
    tz = ZoneInfo(zone)
    start = datetime.fromisoformat(day).replace(tzinfo=tz) - timedelta(hours=7, minutes=10)
    span = Range(start.astimezone(UTC), (start + timedelta(hours=30)).astimezone(UTC))
    hours = Hours.of(span, tz)
    assert np.allclose(hours.exposure, _minutes_per_hour_of_week(span, tz))
