"""The coverage heat map's local hours against a minute-by-minute count, in zones whose
clocks change by part of an hour or at a part of an hour (app/services/coverage.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from app.figures import half_up
from app.services.coverage import HOURS_OF_WEEK, Hours
from app.services.program import below_target, pct, shown_below
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


@pytest.mark.parametrize(
    ("value", "places", "shown"),
    [
        (100 * 4.5 / 360, 1, 1.3),  # 1.25 %: round() gave 1.2, a spreadsheet 1.3
        (2.675, 2, 2.68),  # stored a hair below 2.675: rounded as it prints
        (0.0625, 3, 0.063),
        (100 * 80 / 401, 1, 20.0),
        (1.24999, 1, 1.2),
        (7.0, 1, 7.0),
    ],
)
def test_report_figures_round_a_half_up_as_a_spreadsheet_does(
    value: float, places: int, shown: float
) -> None:
    assert half_up(value, places) == shown


@pytest.mark.parametrize(
    ("part", "whole", "target", "below"),
    [
        (161, 1000, 16.1, False),  # 16.1 % exactly: a float 16.1 * 1000 put it below
        (33, 750, 4.4, False),
        (80, 401, 20.0, True),  # 19.95 %, shown as 20.0
        (2, 3, 66.67, True),
        (2, 3, 66.66, False),
        (0, 0, 20.0, False),  # no officers: no share to be below
    ],
)
def test_the_cit_share_is_held_to_its_target_exactly(
    part: int, whole: int, target: float, below: bool
) -> None:
    assert below_target(part, whole, target) is below


@pytest.mark.parametrize(
    ("part", "whole", "target", "shown"),
    [
        (1, 5, 25.0, "20.0"),  # below as the report shows it: shown so
        (5, 9, 55.6, "55.55"),  # 55.6 shown, at the target: cut to where it is below
        (80, 401, 20.0, "19.95"),
        (2, 3, 66.67, "66.66"),
        (199999, 200000, 99.9999999, "99.99"),
        (1, 5, 20.0000001, "20.0"),
    ],
)
def test_a_share_below_its_target_is_shown_below_it(
    part: int, whole: int, target: float, shown: str
) -> None:
    assert below_target(part, whole, target)
    assert shown_below(part, whole, target, pct(part, whole)) == shown
