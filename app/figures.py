"""How the service writes a figure to so many decimals: a half rounded up, as a
spreadsheet's ROUND does (docs/reports.md). The reports and the alerts share it, so an alert
and the report a coordinator checks it against read the same number."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal


def half_up(value: float, places: int) -> float:
    """value to places decimals, a half rounded away from zero, as a spreadsheet's ROUND
    does (Python's round() rounds a half to even: 1.25 % read 1.2), of the decimal the float
    prints as (so 2.675, stored a hair below, rounds up as written)."""
    return float(Decimal(repr(value)).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP))


def gap_hours(start: datetime, end: datetime) -> float:
    """A coverage gap's hours, to two decimals, as GET /v1/coverage and coverage.gap_ahead
    both give them (2 h 7 min 30 s is 2.13)."""
    return half_up((end - start).total_seconds() / 3600, 2)
