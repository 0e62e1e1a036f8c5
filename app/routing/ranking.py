"""Eligibility, reach and ranking of candidate units (SPEC §4.1 and the `rank` rule)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from app.routing.types import CallFacts, Candidate, GeoPoint, Policy

EARTH_RADIUS_KM = 6371.0088


def haversine_km(a: GeoPoint, b: GeoPoint) -> float:
    """Great-circle distance between two points, in kilometres."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat = lat2 - lat1
    dlon = math.radians(b.lon - a.lon)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def is_eligible(candidate: Candidate, now: datetime) -> bool:
    """Active, on a shift that covers now, and available."""
    return (
        candidate.active
        and candidate.shift_starts_at <= now < candidate.shift_ends_at
        and candidate.status == "available"
    )


def is_cit(candidate: Candidate, today: date) -> bool:
    """An officer holding a certification valid on the agency's calendar date."""
    return candidate.responder_type == "officer" and any(
        c.certified_on <= today < c.expires_on for c in candidate.certifications
    )


def hops_to(district: str, adjacency: Mapping[str, frozenset[str]], depth: int) -> dict[str, int]:
    """Districts within depth hops of district, with their distance in hops."""
    hops = {district: 0}
    frontier = [district]
    for distance in range(1, depth + 1):
        following: list[str] = []
        for current in frontier:
            for neighbour in adjacency.get(current, frozenset()):
                if neighbour not in hops:
                    hops[neighbour] = distance
                    following.append(neighbour)
        frontier = following
    return hops


def training_class(candidate: Candidate) -> int:
    """0 for de-escalation training, 1 for mental-health awareness, 2 for neither."""
    if "de_escalation" in candidate.trainings:
        return 0
    if "mh_awareness" in candidate.trainings:
        return 1
    return 2


@dataclass(frozen=True, slots=True)
class Ranked:
    """An eligible candidate in reach, with what ranking learned about it."""

    candidate: Candidate
    hop: int
    cit: bool
    distance_km: float | None
    eta_minutes: float | None
    position: int = 0


def rank_candidates(
    call: CallFacts,
    candidates: Sequence[Candidate],
    policy: Policy,
    now: datetime,
    adjacency: Mapping[str, frozenset[str]],
) -> list[Ranked]:
    """Eligible candidates in reach, best first.

    Order: serving the district before adjacent (nearer rings first); for a minor, a youth
    co-responder first among those serving; ETA (unknown locations last); fewer
    assignments in 24 h; call sign.
    """
    reach = hops_to(call.district, adjacency, policy.adjacency_depth)
    today = now.date()
    minor = call.subject_age is not None and call.subject_age < 18
    found: list[tuple[tuple[object, ...], Candidate, int, float | None]] = []
    for c in candidates:
        if not is_eligible(c, now):
            continue
        hop = 0 if call.district in c.also_covers else reach.get(c.shift_district)
        if hop is None:
            continue
        distance = haversine_km(call.location, c.location) if call.location and c.location else None
        youth_first = minor and hop == 0 and "youth" in c.specialties
        key = (
            hop,
            not youth_first,
            distance is None,
            distance or 0.0,
            c.assignments_24h,
            c.call_sign,
            str(c.responder_id),
        )
        found.append((key, c, hop, distance))
    found.sort(key=lambda entry: entry[0])
    return [
        Ranked(
            c,
            hop,
            is_cit(c, today),
            distance,
            None if distance is None else distance / policy.speed_kmh * 60,
            position,
        )
        for position, (_, c, hop, distance) in enumerate(found)
    ]
