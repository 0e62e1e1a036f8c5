"""Properties of the routing core that must hold for any input (hypothesis)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from app.routing import effective_flags, is_cit, is_eligible, recommend
from app.routing.ranking import hops_to
from app.routing.types import (
    SAFETY_FLAGS,
    TRAININGS,
    CallFacts,
    Candidate,
    CertificationPeriod,
    GeoPoint,
    Policy,
    ResponderType,
)

NOW = datetime(2026, 11, 23, 23, 30, tzinfo=ZoneInfo("America/Denver"))
DISTRICTS = ("D1", "D2", "D3", "D4", "D5")
GRID = {
    "D1": frozenset({"D2", "D3"}),
    "D2": frozenset({"D1", "D4"}),
    "D3": frozenset({"D1", "D4"}),
    "D4": frozenset({"D2", "D3", "D5"}),
    "D5": frozenset({"D4"}),
}
STATUSES = ("available", "dispatched", "en_route", "on_scene", "transporting", "out_of_service")

points = st.builds(
    GeoPoint,
    st.floats(min_value=40.0, max_value=41.0, allow_nan=False),
    st.floats(min_value=-112.5, max_value=-111.5, allow_nan=False),
)
days = st.integers(min_value=-900, max_value=900).map(lambda d: NOW.date() + timedelta(days=d))
certifications = st.tuples(days, st.integers(min_value=1, max_value=1200)).map(
    lambda p: CertificationPeriod(p[0], p[0] + timedelta(days=p[1]))
)
hours = st.floats(min_value=-30, max_value=30, allow_nan=False)


@st.composite
def candidates(draw: st.DrawFn) -> Candidate:
    kind: ResponderType = draw(st.sampled_from(("officer", "co_responder")))
    start = NOW + timedelta(hours=draw(hours))
    return Candidate(
        responder_type=kind,
        responder_id=uuid.UUID(int=draw(st.integers(min_value=0, max_value=2**64))),
        name="x",
        call_sign=draw(st.text(alphabet="ABC123", min_size=1, max_size=4)),
        shift_district=draw(st.sampled_from((*DISTRICTS, "D9"))),
        also_covers=draw(st.frozensets(st.sampled_from(DISTRICTS), max_size=2)),
        shift_starts_at=start,
        shift_ends_at=start + timedelta(hours=draw(st.floats(min_value=0.5, max_value=24))),
        status=draw(st.sampled_from(STATUSES)),
        active=draw(st.booleans()),
        location=draw(st.none() | points),
        certifications=draw(st.lists(certifications, max_size=3).map(tuple))
        if kind == "officer"
        else (),
        trainings=draw(st.frozensets(st.sampled_from(TRAININGS))),
        specialties=draw(st.frozensets(st.sampled_from(("youth", "veterans", "language:es")))),
        assignments_24h=draw(st.integers(min_value=0, max_value=5)),
    )


calls = st.builds(
    CallFacts,
    district=st.sampled_from(DISTRICTS),
    location=st.none() | points,
    nature=st.none()
    | st.sampled_from(("MNTL", "mtlv", "WEAPON", "SUICIDE", "", "  weapon ", "ÿ?")),
    safety=st.frozensets(st.sampled_from(SAFETY_FLAGS)),
    subject_age=st.none() | st.integers(min_value=0, max_value=110),
)
policies = st.builds(
    Policy,
    version=st.integers(min_value=1, max_value=50),
    safety_flags=st.frozensets(st.sampled_from(SAFETY_FLAGS)),
    le_backup_for_mh_lead=st.booleans(),
    adjacency_depth=st.integers(min_value=0, max_value=3),
    speed_kmh=st.floats(min_value=1, max_value=200, allow_nan=False),
)
# One candidate per responder, as the candidate query returns them.
pools = st.lists(candidates(), max_size=14, unique_by=lambda c: c.responder_id)


def _today() -> date:
    return NOW.date()


@settings(max_examples=200, deadline=None)
@given(call=calls, pool=pools, policy=policies)
def test_never_recommends_an_ineligible_or_unreachable_unit(
    call: CallFacts, pool: list[Candidate], policy: Policy
) -> None:
    rec = recommend(call, pool, policy, NOW, adjacency=GRID)
    by_id = {c.responder_id: c for c in pool}
    reach = hops_to(call.district, GRID, policy.adjacency_depth)
    for unit in rec.units:
        source = by_id[unit.responder_id]
        assert is_eligible(source, NOW)
        assert call.district in source.also_covers or source.shift_district in reach


@settings(max_examples=200, deadline=None)
@given(call=calls, pool=pools, policy=policies)
def test_cit_claim_always_backed_by_a_certification_valid_today(
    call: CallFacts, pool: list[Candidate], policy: Policy
) -> None:
    rec = recommend(call, pool, policy, NOW, adjacency=GRID)
    by_id = {c.responder_id: c for c in pool}
    for unit in rec.units:
        source = by_id[unit.responder_id]
        valid = any(c.certified_on <= _today() < c.expires_on for c in source.certifications)
        assert unit.cit_certified == (source.responder_type == "officer" and valid)


@settings(max_examples=200, deadline=None)
@given(call=calls, pool=pools, policy=policies)
def test_safety_concern_means_law_enforcement_leads_with_cit_when_one_is_in_reach(
    call: CallFacts, pool: list[Candidate], policy: Policy
) -> None:
    rec = recommend(call, pool, policy, NOW, adjacency=GRID)
    concern = bool(effective_flags(call, policy) & policy.safety_flags)
    assert rec.safety_concern == concern
    if not concern:
        return
    assert rec.lead == "law_enforcement"
    reach = hops_to(call.district, GRID, policy.adjacency_depth)
    cit_in_reach = [
        c
        for c in pool
        if is_eligible(c, NOW)
        and is_cit(c, _today())
        and (call.district in c.also_covers or c.shift_district in reach)
    ]
    lead = next((u for u in rec.units if u.role == "lead"), None)
    if cit_in_reach:
        assert lead is not None
        assert lead.responder_type == "officer"
        assert lead.cit_certified
    if lead is not None:
        assert lead.responder_type == "officer"


@settings(max_examples=200, deadline=None)
@given(call=calls, pool=pools, policy=policies)
def test_exactly_one_lead_when_any_unit_and_no_unit_twice(
    call: CallFacts, pool: list[Candidate], policy: Policy
) -> None:
    rec = recommend(call, pool, policy, NOW, adjacency=GRID)
    if rec.units:
        assert [u.role for u in rec.units].count("lead") == 1
        assert rec.units[0].role == "lead"
    else:
        assert "no_units_available" in {w.code for w in rec.warnings}
    assert len({u.responder_id for u in rec.units}) == len(rec.units)
    assert rec.policy_version == policy.version
    assert rec.reasons


@settings(max_examples=200, deadline=None)
@given(
    call=calls,
    pool=st.lists(candidates(), max_size=20, unique_by=lambda c: c.responder_id),
    policy=policies,
    adjacency=st.dictionaries(
        st.sampled_from((*DISTRICTS, "D9")), st.frozensets(st.sampled_from(DISTRICTS))
    ),
)
def test_a_recommendation_is_always_returned(
    call: CallFacts, pool: list[Candidate], policy: Policy, adjacency: dict[str, frozenset[str]]
) -> None:
    rec = recommend(call, pool, policy, NOW, adjacency=adjacency)
    assert rec.lead in ("mental_health", "law_enforcement")
    assert set(rec.requests) <= {"ems", "mh_phone_consult", "cit_when_available"}
