"""Small builders for routing tests: a 2 x 2 grid of districts around one call point."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from app.routing import recommend
from app.routing.types import (
    CallFacts,
    Candidate,
    CertificationPeriod,
    GeoPoint,
    Policy,
    Recommendation,
)
from app.vocabulary import ResponderType

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=ZoneInfo("America/Denver"))
TODAY = NOW.date()
# D1-D2, D1-D3, D2-D4, D3-D4 (a 2 x 2 grid); D5 is adjacent to D4 only.
GRID = {
    "D1": frozenset({"D2", "D3"}),
    "D2": frozenset({"D1", "D4"}),
    "D3": frozenset({"D1", "D4"}),
    "D4": frozenset({"D2", "D3", "D5"}),
    "D5": frozenset({"D4"}),
}
CALL_POINT = GeoPoint(40.78, -111.92)
POLICY = Policy()
WEAPON = frozenset({"weapon"})


def call(district: str = "D1", **kw: Any) -> CallFacts:
    """A call at CALL_POINT in district (D1 by default)."""
    kw.setdefault("location", CALL_POINT)
    return CallFacts(district=district, **kw)


def run(
    facts: CallFacts,
    *candidates: Candidate,
    policy: Policy = POLICY,
    now: datetime = NOW,
    adjacency: dict[str, frozenset[str]] | None = GRID,
) -> Recommendation:
    return recommend(facts, list(candidates), policy, now, adjacency=adjacency)


def valid_cert() -> CertificationPeriod:
    return CertificationPeriod(TODAY - timedelta(days=100), TODAY + timedelta(days=200))


def expired(days_ago: int = 1) -> CertificationPeriod:
    return CertificationPeriod(TODAY - timedelta(days=800), TODAY - timedelta(days=days_ago))


def not_yet_valid() -> CertificationPeriod:
    return CertificationPeriod(TODAY + timedelta(days=1), TODAY + timedelta(days=400))


def certified_on_day(on: date) -> CertificationPeriod:
    return CertificationPeriod(on, on + timedelta(days=365))


def officer(
    call_sign: str,
    district: str = "D1",
    *,
    cit: bool = False,
    certifications: tuple[CertificationPeriod, ...] | None = None,
    trainings: frozenset[str] = frozenset(),
    **kw: Any,
) -> Candidate:
    """An officer on shift in district; see unit() for the other keywords."""
    if certifications is None:
        certifications = (valid_cert(),) if cit else ()
    return unit(
        "officer",
        call_sign,
        district,
        certifications=certifications,
        trainings=trainings,
        **kw,
    )


def co_responder(call_sign: str, district: str = "D1", **kw: Any) -> Candidate:
    """A co-responder on shift in district; see unit() for the keywords."""
    return unit("co_responder", call_sign, district, **kw)


def unit(
    kind: ResponderType,
    call_sign: str,
    district: str,
    *,
    km_north: float | None = None,
    on_shift: bool = True,
    **fields: Any,
) -> Candidate:
    """An available, active unit whose shift covers NOW.

    km_north places it that far north of CALL_POINT (None: location unknown). on_shift=False
    moves the shift to start an hour after NOW. Other keywords set Candidate fields.
    """
    start = NOW - timedelta(hours=2) if on_shift else NOW + timedelta(hours=1)
    location = (
        None if km_north is None else GeoPoint(CALL_POINT.lat + km_north / 111.195, CALL_POINT.lon)
    )
    base = Candidate(
        responder_type=kind,
        responder_id=uuid.uuid5(uuid.NAMESPACE_DNS, f"{kind}-{call_sign}"),
        name=f"Name of {call_sign}",
        call_sign=call_sign,
        shift_district=district,
        also_covers=frozenset(),
        shift_starts_at=start,
        shift_ends_at=start + timedelta(hours=8),
        status="available",
        location=location,
    )
    return replace(base, **fields)


def roles(rec: Recommendation) -> dict[str, str]:
    return {u.call_sign: u.role for u in rec.units}


def rules(rec: Recommendation) -> list[str]:
    return [r.rule for r in rec.reasons]


def reason(rec: Recommendation, rule: str) -> str:
    return next(r.message for r in rec.reasons if r.rule == rule)


def warnings(rec: Recommendation) -> list[str]:
    return [w.code for w in rec.warnings]


def warning(rec: Recommendation, code: str) -> str:
    return next(w.message for w in rec.warnings if w.code == code)
