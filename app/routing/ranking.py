"""Eligibility, reach and ranking of candidate units (docs/routing.md, "Eligibility",
"Serving and adjacency" and "Ranking")."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from app.routing.geo import haversine_km, is_known
from app.routing.types import CallFacts, Candidate, Policy


def is_eligible(candidate: Candidate, now: datetime) -> bool:
    """Tell whether the unit is active, on a shift that covers now, and available."""
    return (
        candidate.active
        and candidate.shift_starts_at <= now < candidate.shift_ends_at
        and candidate.status == "available"
    )


def is_cit(candidate: Candidate, today: date) -> bool:
    """Tell whether the unit is an officer with a certification valid on the agency's date."""
    return candidate.responder_type == "officer" and any(
        c.certified_on <= today < c.expires_on for c in candidate.certifications
    )


def is_minor(call: CallFacts) -> bool:
    """Tell whether the call's subject is under 18 (youth specialists rank first)."""
    return call.subject_age is not None and call.subject_age < 18


def hops_to(district: str, adjacency: Mapping[str, frozenset[str]], depth: int) -> dict[str, int]:
    """Map each district within depth hops of district to its hop count (district itself: 0).

    Adjacency is symmetric (docs/routing.md, "Serving and adjacency"), so the hops from
    the call's district to a unit's shift district equal those from that district back.
    """
    hops = {district: 0}
    frontier = [district]
    for distance in range(1, depth + 1):
        following: list[str] = []
        for current in frontier:
            for neighbour in adjacency.get(current, frozenset()):
                if neighbour not in hops:
                    hops[neighbour] = distance
                    following.append(neighbour)
        if not following:
            break
        frontier = following
    return hops


def training_class(candidate: Candidate) -> int:
    """Return 0 for de-escalation training, 1 for mental-health awareness, 2 for neither."""
    if "de_escalation" in candidate.trainings:
        return 0
    if "mh_awareness" in candidate.trainings:
        return 1
    return 2


@dataclass(frozen=True, slots=True)
class Ranked:
    """An eligible candidate in reach, with what ranking learned about it."""

    candidate: Candidate
    # The ring ranking counts: 0 for a unit on the call, wherever it comes from.
    hop: int
    # The ring of its shift district, as the warnings tell it (0 when it serves the call's
    # district); None for a unit on the call whose district is out of reach.
    away: int | None
    cit: bool
    distance_km: float | None
    eta_minutes: float | None
    # Index in the overall ranking: the training preference breaks its ties by it.
    position: int
    # A youth specialist ranked first for a minor (the youth part of the `rank` rule).
    youth_first: bool

    @property
    def call_sign(self) -> str:
        return self.candidate.call_sign

    @property
    def identity(self) -> tuple[str, UUID]:
        return (self.candidate.responder_type, self.candidate.responder_id)


_Entry = tuple[
    tuple[bool, int, bool, bool, float, int, str, str],
    Candidate,
    int,
    int | None,
    float | None,
    bool,
]


def rank_candidates(
    call: CallFacts,
    candidates: Sequence[Candidate],
    policy: Policy,
    now: datetime,
    adjacency: Mapping[str, frozenset[str]],
) -> list[Ranked]:
    """Return the eligible candidates in reach, best first.

    Order: the units already on the call first (a dispatched call's re-triage: they serve
    it, active, whatever their status, shift or district); then serving the district
    before adjacent (nearer rings first); for a minor, a youth
    co-responder first among co-responders serving the district; then distance, which orders
    like ETA at any fixed speed (unknown locations last; none for a unit on the call's
    scene); fewer assignments in 24 h; call sign;
    responder id. A responder listed twice (two shifts in reach) is kept once, at its best.
    """
    reach = hops_to(call.district, adjacency, policy.adjacency_depth)
    today = now.date()
    minor = is_minor(call)
    call_point = call.location if is_known(call.location) else None
    best: dict[tuple[str, UUID], _Entry] = {}
    for c in candidates:
        on_call = c.on_call and c.active
        if not (on_call or is_eligible(c, now)):
            continue
        # also_covers makes a unit serve a district; only the shift district has neighbours.
        away = 0 if call.district in c.also_covers else reach.get(c.shift_district)
        hop = 0 if on_call else away
        if hop is None:
            continue
        distance = (
            # On the scene of this call, it is there, wherever it last reported from (a
            # position sent before it arrived, or none): no travel left, ETA 0.
            0.0
            if on_call and c.status == "on_scene"
            else haversine_km(call_point, c.location)
            if call_point is not None and c.location is not None and is_known(c.location)
            else None
        )
        # Youth counts only among the co-responders serving the call's district. The
        # candidate query (app/repositories/candidates.py) keeps units by the same rule;
        # tests/api/test_candidate_trimming.py fails if the two drift apart.
        youth_first = (
            minor and hop == 0 and c.responder_type == "co_responder" and "youth" in c.specialties
        )
        key = (
            not on_call,
            hop,
            not youth_first,
            distance is None,
            distance or 0.0,
            c.assignments_24h,
            c.call_sign,
            str(c.responder_id),
        )
        identity = (c.responder_type, c.responder_id)
        kept = best.get(identity)
        if kept is None or key < kept[0]:
            best[identity] = (key, c, hop, away, distance, youth_first)
    ordered = sorted(best.values(), key=lambda entry: entry[0])
    return [
        Ranked(
            candidate=c,
            hop=hop,
            away=away,
            cit=is_cit(c, today),
            distance_km=distance,
            eta_minutes=_eta_minutes(distance, policy.speed_kmh),
            position=position,
            youth_first=youth_first,
        )
        for position, (_, c, hop, away, distance, youth_first) in enumerate(ordered)
    ]


def _eta_minutes(distance_km: float | None, speed_kmh: float) -> float | None:
    # A non-positive or non-finite speed (the API rejects one) yields no ETA, not an error.
    if distance_km is None or not (math.isfinite(speed_kmh) and speed_kmh > 0):
        return None
    eta = distance_km / speed_kmh * 60
    return eta if math.isfinite(eta) else None
