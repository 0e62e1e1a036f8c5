"""Small builders for routing tests."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from app.routing.types import Candidate, CertificationPeriod, GeoPoint, Recommendation

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


def valid_cert() -> CertificationPeriod:
    return CertificationPeriod(TODAY - timedelta(days=100), TODAY + timedelta(days=200))


def officer(
    call_sign: str,
    district: str = "D1",
    *,
    cit: bool = False,
    trainings: frozenset[str] = frozenset(),
    km_north: float | None = None,
    status: str = "available",
    active: bool = True,
    certifications: tuple[CertificationPeriod, ...] | None = None,
    also_covers: frozenset[str] = frozenset(),
    assignments_24h: int = 0,
    on_shift: bool = True,
) -> Candidate:
    """An officer; km_north places them that far north of CALL_POINT (None: unknown)."""
    return _candidate(
        "officer",
        call_sign,
        district,
        km_north=km_north,
        status=status,
        active=active,
        certifications=certifications
        if certifications is not None
        else ((valid_cert(),) if cit else ()),
        trainings=trainings,
        also_covers=also_covers,
        assignments_24h=assignments_24h,
        on_shift=on_shift,
    )


def co_responder(
    call_sign: str,
    district: str = "D1",
    *,
    specialties: frozenset[str] = frozenset(),
    km_north: float | None = None,
    status: str = "available",
    also_covers: frozenset[str] = frozenset(),
    on_shift: bool = True,
) -> Candidate:
    return _candidate(
        "co_responder",
        call_sign,
        district,
        km_north=km_north,
        status=status,
        specialties=specialties,
        also_covers=also_covers,
        on_shift=on_shift,
    )


def _candidate(
    kind: str,
    call_sign: str,
    district: str,
    *,
    km_north: float | None,
    status: str,
    active: bool = True,
    certifications: tuple[CertificationPeriod, ...] = (),
    trainings: frozenset[str] = frozenset(),
    specialties: frozenset[str] = frozenset(),
    also_covers: frozenset[str] = frozenset(),
    assignments_24h: int = 0,
    on_shift: bool = True,
) -> Candidate:
    start = NOW - timedelta(hours=2) if on_shift else NOW + timedelta(hours=1)
    location = (
        None if km_north is None else GeoPoint(CALL_POINT.lat + km_north / 111.2, CALL_POINT.lon)
    )
    return Candidate(
        responder_type="officer" if kind == "officer" else "co_responder",
        responder_id=uuid.uuid5(uuid.NAMESPACE_DNS, f"{kind}-{call_sign}"),
        name=call_sign,
        call_sign=call_sign,
        shift_district=district,
        also_covers=also_covers,
        shift_starts_at=start,
        shift_ends_at=start + timedelta(hours=8),
        status=status,
        active=active,
        location=location,
        certifications=certifications,
        trainings=trainings,
        specialties=specialties,
        assignments_24h=assignments_24h,
    )


def roles(rec: Recommendation) -> dict[str, str]:
    return {u.call_sign: u.role for u in rec.units}


def rules(rec: Recommendation) -> set[str]:
    return {r.rule for r in rec.reasons}


def warnings(rec: Recommendation) -> set[str]:
    return {w.code for w in rec.warnings}


def expired(days_ago: int = 1) -> CertificationPeriod:
    return CertificationPeriod(TODAY - timedelta(days=800), TODAY - timedelta(days=days_ago))


def not_yet_valid() -> CertificationPeriod:
    return CertificationPeriod(TODAY + timedelta(days=1), TODAY + timedelta(days=400))


def certified_on_day(on: date) -> CertificationPeriod:
    return CertificationPeriod(on, on + timedelta(days=365))
