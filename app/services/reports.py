"""What the program's reports share: the range they cover and the district they are about."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from app.errors import Invalid

# A report covers at most this much time (a leap year).
LONGEST_RANGE = timedelta(days=366)


@dataclass(frozen=True, slots=True)
class Range:
    """[start, end): what a report covers."""

    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def report_range(
    start: datetime | None, end: datetime | None, *, now: datetime, default: timedelta
) -> Range:
    """The range asked for, with defaults: `default` after now (before it, if negative).

    Given only one end, the other is `abs(default)` away from it. More than 366 days, or an
    end not after the start, is a 422.
    """
    length = abs(default)
    if start is None and end is None:
        start, end = (now, now + default) if default > timedelta(0) else (now + default, now)
    elif start is None:
        assert end is not None
        start = end - length
    elif end is None:
        end = start + length
    if end <= start:
        raise Invalid("`to` must be after `from`", loc=("query", "to"))
    if end - start > LONGEST_RANGE:
        raise Invalid("a report covers at most 366 days", loc=("query", "to"))
    return Range(start, end)
