"""A person's age as an EIDO's NIEM person tells it (ncPersonComponent): its ageMeasure, in
the unit it is given in, else its birthDate (docs/api.md, "EIDO")."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date
from typing import Any

from app.eido import notes
from app.eido.schema import EidoInvalid
from app.vocabulary import one_line

# An ageMeasure is a NIEM TimeMeasureType (STA-021, table A1): a number, and the unit it is
# in as words (unitText, NIEM's MeasureUnitText: free text) or as a UN/CEFACT Recommendation
# 20 time code (unitCode, NIEM's TimeUnitCode: ANN, MON, WEE, DAY, HUR, MIN, SEC). The
# units a person's age is given in (a newborn's in minutes or seconds too), with
# how many of each make a year (a Gregorian year: 365.2425 days), by each word or code a
# CAD may write for them; none written is years. Read in any case, the words singular or
# plural. A single letter ("m": months or minutes?) names no unit; a blank or null one is
# none written.
_DAYS_A_YEAR = 365.2425
_PER_YEAR: dict[str, float] = {
    **dict.fromkeys(("year", "years", "yr", "yrs", "ann"), 1.0),
    **dict.fromkeys(("month", "months", "mo", "mos", "mon"), 12.0),
    **dict.fromkeys(("week", "weeks", "wk", "wks", "wee"), _DAYS_A_YEAR / 7),
    **dict.fromkeys(("day", "days"), _DAYS_A_YEAR),
    **dict.fromkeys(("hour", "hours", "hr", "hrs", "hur"), _DAYS_A_YEAR * 24),
    **dict.fromkeys(("minute", "minutes", "min", "mins"), _DAYS_A_YEAR * 24 * 60),
    **dict.fromkeys(("second", "seconds", "sec", "secs"), _DAYS_A_YEAR * 24 * 3600),
}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


class AgeNotRead(Exception):
    """An ageMeasure in a unit the service does not read, or in two that disagree: no
    age, never years (a 6-month-old read as 6 is no longer a baby to the routing), and
    the line of the notes that tells the dispatcher what the CAD sent. The document is
    taken: refused, it lost its cautions with it, as a stray character did."""

    def __init__(self, line: str) -> None:
        super().__init__(line)
        self.line = line


def _per_year(measure: Any) -> float | None:
    """How many of the ageMeasure's unit make a year: by its unitText and its unitCode (both
    given, they must name one unit); None for a unit not read."""
    if not isinstance(measure, dict):
        return 1.0
    found: set[float | None] = set()
    for name in ("unitText", "unitCode"):
        unit = measure.get(name)
        if unit is None or (isinstance(unit, str) and not unit.strip()):
            continue  # not said: years, as with no unit at all
        found.add(_PER_YEAR.get(unit.strip().lower()) if isinstance(unit, str) else None)
    if len(found) > 1:
        return None
    return found.pop() if found else 1.0


def _unread(value: float, measure: dict[str, Any]) -> str:
    """The line telling an age in a unit not read: the number and the units as sent."""
    units = [measure.get(name) for name in ("unitText", "unitCode")]
    said = [one_line(notes.storable(str(unit))) for unit in units if unit is not None]
    shown = " / ".join(dict.fromkeys(unit for unit in said if unit))[:_UNIT_SHOWN]
    return f"{notes.AGE_LINE} (a unit the service does not read): {value:g} {shown}"


# The most of the units' words the line keeps.
_UNIT_SHOWN = 100


def age(person: Mapping[str, Any], on: date) -> tuple[int | None, str | None]:
    """The person's age in whole years (from ageMeasure, in its unit, else birthDate), and
    the element it came from. Raises EidoInvalid naming the element that cannot be read,
    AgeNotRead for an ageMeasure in a unit not read."""
    niem = person.get("ncPersonComponent")
    if not isinstance(niem, dict):
        return None, None
    if "ageMeasure" in niem:
        measure = niem["ageMeasure"]
        value = _number(measure.get("doubleValue") if isinstance(measure, dict) else measure)
        if value is None:
            raise EidoInvalid("ageMeasure is a number of years, or {doubleValue, unitText}")
        if value < 0:
            raise EidoInvalid(f"ageMeasure is a number, 0 or more, not {value:g}")
        per_year = _per_year(measure)
        if per_year is None:
            assert isinstance(measure, dict)
            raise AgeNotRead(_unread(value, measure))
        return math.floor(value / per_year), "ageMeasure"
    if "birthDate" in niem:
        born = niem["birthDate"]
        if isinstance(born, dict):
            born = born.get("date") or born.get("dateTime")
        try:
            birthday = date.fromisoformat(str(born)[:10])
        except ValueError:
            raise EidoInvalid("birthDate is a date (YYYY-MM-DD), or {date: YYYY-MM-DD}") from None
        if birthday > on:
            # Said so, rather than as the negative age it would make (a bare ">= 0").
            raise EidoInvalid(f"birthDate {birthday} is after the document's date ({on})")
        years = on.year - birthday.year - ((on.month, on.day) < (birthday.month, birthday.day))
        return years, "birthDate"
    return None, None
