"""What the program's reports share: the range they cover and the district they are about."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.errors import Invalid
from app.events.body import instant_text
from app.schemas.common import is_computable

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


def _other_end(given_end: datetime, by: timedelta, *, given: str) -> datetime:
    """The end a range given only one end has by default; a 422 at the end given when it
    would fall outside the years a time can be computed in."""
    try:
        other = given_end + by
    except OverflowError:
        other = None
    if other is None or not is_computable(other):
        side = "after" if by > timedelta(0) else "before"
        raise Invalid(
            f"with only `{given}`, the report runs {by.days if by.days > 0 else -by.days}"
            f" days {side} it, past the years 0001 to 9999; give `from` and `to`",
            loc=("query", given),
        )
    return other


def report_range(
    start: datetime | None, end: datetime | None, *, now: datetime, default: timedelta
) -> Range:
    """The range asked for, with defaults: `default` after now (before it, if negative).

    Given only one end, the other is `abs(default)` away from it; for a report of what
    happened (a negative default), not past now: the rest has not happened, and a month
    grouping would list months to come. So such a start alone must be before now (a 422
    saying so; both ends given ask for that range, ahead or not). More than 366 days, or
    an end not after the start, is a 422.
    """
    length = abs(default)
    if start is None and end is None:
        start, end = (now, now + default) if default > timedelta(0) else (now + default, now)
    elif start is None:
        assert end is not None
        start = _other_end(end, -length, given="to")
    elif end is None:
        # Before the other end is made: a start in the last days a time can hold is in the
        # future, not a report running past the year 9999.
        if default < timedelta(0) and start >= now:
            raise Invalid(
                f"`from` is in the future ({instant_text(start)}): given alone, the"
                " report runs until now at the latest; give `to` too for a range ahead",
                loc=("query", "from"),
            )
        end = _other_end(start, length, given="from")
        if default < timedelta(0):
            end = min(end, now)
    if end <= start:
        raise Invalid("`to` must be after `from`", loc=("query", "to"))
    if end - start > LONGEST_RANGE:
        raise Invalid("a report covers at most 366 days", loc=("query", "to"))
    # In UTC, as every instant the reports answer with: a gap clipped to the range's start
    # would otherwise carry the caller's offset beside ends in UTC.
    return Range(start.astimezone(UTC), end.astimezone(UTC))
