"""Properties of the routing core that hold for any input (hypothesis; docs/routing.md,
"Guarantees").

The oracles here (eligibility, reach, CIT validity, safety concern) are written again from
docs/routing.md rather than imported from app.routing, so a bug there cannot hide itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from app.routing import recommend
from app.routing.types import (
    CallFacts,
    Candidate,
    CertificationPeriod,
    GeoPoint,
    Policy,
    Recommendation,
)
from app.vocabulary import APCO_INCIDENT_TYPES, SAFETY_FLAGS, TRAININGS

DISTRICTS = ("D1", "D2", "D3", "D4", "D5", "D6")
STATUSES = ("available", "available", "dispatched", "on_scene", "out_of_service")
# Late evening in Denver is already tomorrow in UTC; just after midnight in Kolkata is still
# yesterday in UTC: certification dates must follow the agency's calendar in both.
NOWS = (
    datetime(2026, 11, 23, 22, 30, tzinfo=ZoneInfo("America/Denver")),
    datetime(2026, 3, 8, 0, 15, tzinfo=ZoneInfo("Asia/Kolkata")),
    datetime(2026, 7, 1, 12, 0, tzinfo=ZoneInfo("UTC")),
)

Adjacency = dict[str, frozenset[str]]


# Oracles, from the words of docs/routing.md.


def eligible(c: Candidate, now: datetime) -> bool:
    return c.active and c.status == "available" and c.shift_starts_at <= now < c.shift_ends_at


def cit_valid(c: Candidate, today: date) -> bool:
    return c.responder_type == "officer" and any(
        p.certified_on <= today < p.expires_on for p in c.certifications
    )


def hop(c: Candidate, call: CallFacts, policy: Policy, adjacency: Adjacency) -> int | None:
    """Hops from the unit's shift district to the call's, or None when out of reach."""
    if call.district == c.shift_district or call.district in c.also_covers:
        return 0
    seen, ring = {c.shift_district}, {c.shift_district}
    for distance in range(1, policy.adjacency_depth + 1):
        ring = {n for d in ring for n in adjacency.get(d, frozenset())} - seen
        if call.district in ring:
            return distance
        seen |= ring
    return None


def in_reach(
    c: Candidate, call: CallFacts, policy: Policy, adjacency: Adjacency, now: datetime
) -> bool:
    return eligible(c, now) and hop(c, call, policy, adjacency) is not None


def concern(call: CallFacts, policy: Policy) -> bool:
    nature = (call.nature or "").strip().upper()
    implied = {
        f for code, flags in policy.nature_flags.items() if code.upper() == nature for f in flags
    }
    return bool((call.safety | implied) & policy.safety_flags)


def unknown_nature(call: CallFacts, policy: Policy) -> bool:
    nature = (call.nature or "").strip().upper()
    named = {code.strip().upper() for code in policy.nature_flags} | policy.eido_incident_types
    return bool(nature) and nature not in APCO_INCIDENT_TYPES | named


def sources(unit_id: tuple[str, uuid.UUID], pool: list[Candidate]) -> list[Candidate]:
    return [c for c in pool if (c.responder_type, c.responder_id) == unit_id]


# Strategies: a small world near the oracles' edge cases (shift ends, certification days).

natures = st.sampled_from(
    (None, "", "MNTL", "mtlv", " WEAPON ", "SUICIDE", "weapon?", "ÿ", "crisis", " Local-1")
)
points = st.builds(
    GeoPoint,
    st.floats(min_value=40.5, max_value=41.0),
    st.floats(min_value=-112.2, max_value=-111.7),
)
hours = st.sampled_from((-30.0, -8.0, -1.0, -0.01, 0.0, 0.01, 1.0, 8.0))
day_offsets = st.integers(min_value=-3, max_value=3) | st.integers(min_value=-900, max_value=900)
lengths = st.integers(min_value=0, max_value=3) | st.integers(min_value=1, max_value=1200)
any_certification = st.tuples(day_offsets, lengths)
expired_certification = st.tuples(
    st.integers(min_value=-900, max_value=-1), st.integers(min_value=0, max_value=900)
).map(lambda p: (p[0] - p[1] - 1, p[1] + 1))  # ends on or before today
future_certification = st.tuples(
    st.integers(min_value=1, max_value=900), st.integers(min_value=1, max_value=900)
)


def symmetric(edges: list[tuple[str, str]]) -> Adjacency:
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        if a != b:
            graph.setdefault(a, set()).add(b)
            graph.setdefault(b, set()).add(a)
    return {d: frozenset(n) for d, n in graph.items()}


# A symmetric adjacency over DISTRICTS (D9, where some units work, is in none).
adjacencies = st.lists(
    st.tuples(st.sampled_from(DISTRICTS), st.sampled_from(DISTRICTS)), max_size=8
).map(symmetric)


# A unit before it meets a `now`: shift times and certification days are drawn as offsets.
# Few choices per field keep generation cheap (the properties, not ranking, are under test
# here) while still giving ties, missing locations and units both in and out of reach.
places = (None, GeoPoint(40.76, -111.89), GeoPoint(40.80, -111.95), GeoPoint(40.70, -112.0))
templates = st.builds(
    Candidate,
    responder_type=st.sampled_from(("officer", "co_responder")),
    # A small id space so the same responder sometimes comes twice (two shifts in reach).
    responder_id=st.sampled_from([uuid.UUID(int=n) for n in range(12)]),
    name=st.just("n"),
    call_sign=st.sampled_from(("1A1", "1A2", "2B7", "MCT-1", "MCT-2")),
    shift_district=st.sampled_from((*DISTRICTS, "D9")),
    also_covers=st.sampled_from(
        (frozenset(), frozenset(), frozenset({"D1"}), frozenset({"D2", "D5"}))
    ),
    shift_starts_at=st.just(NOWS[0]),
    shift_ends_at=st.just(NOWS[0]),
    status=st.sampled_from(STATUSES),
    active=st.sampled_from((True, True, False)),
    location=st.sampled_from(places),
    trainings=st.sampled_from(
        (
            frozenset(),
            frozenset({"mh_awareness"}),
            frozenset({"de_escalation"}),
            frozenset(TRAININGS),
        )
    ),
    specialties=st.sampled_from((frozenset(), frozenset({"youth"}), frozenset({"veterans"}))),
    assignments_24h=st.integers(min_value=0, max_value=2),
)
shift_lengths = st.sampled_from((0.01, 1.0, 8.0, 24.0))
calls = st.builds(
    CallFacts,
    district=st.sampled_from(DISTRICTS),
    location=st.none() | points,
    nature=natures,
    safety=st.frozensets(st.sampled_from(SAFETY_FLAGS), max_size=2),
    subject_age=st.none() | st.integers(min_value=5, max_value=80),
)
policies = st.builds(
    Policy,
    version=st.integers(min_value=1, max_value=9),
    safety_flags=st.frozensets(st.sampled_from(SAFETY_FLAGS)),
    le_backup_for_mh_lead=st.booleans(),
    adjacency_depth=st.integers(min_value=0, max_value=3),
    eido_incident_types=st.sampled_from((frozenset(), frozenset({"LOCAL-1"}))),
)
Draft = tuple[Candidate, list[tuple[int, int]], float, float]


def place(now: datetime, draft: Draft) -> Candidate:
    """Put a drawn unit on the calendar of now."""
    template, periods, start_h, length_h = draft
    start, today = now + timedelta(hours=start_h), now.date()
    return replace(
        template,
        shift_starts_at=start,
        shift_ends_at=start + timedelta(hours=length_h),
        # Co-responders get certification periods too: they must never count as CIT.
        certifications=tuple(
            CertificationPeriod(today + timedelta(days=s), today + timedelta(days=s + n))
            for s, n in periods
        ),
    )


def worlds(
    certs: st.SearchStrategy[tuple[int, int]] = any_certification,
) -> st.SearchStrategy[tuple[CallFacts, list[Candidate], Policy, datetime, Adjacency]]:
    drafts = st.lists(
        st.tuples(templates, st.lists(certs, max_size=2), hours, shift_lengths), max_size=10
    )
    return st.builds(
        lambda call, drafts, policy, now, adjacency: (
            call,
            [place(now, d) for d in drafts],
            policy,
            now,
            adjacency,
        ),
        calls,
        drafts,
        policies,
        st.sampled_from(NOWS),
        adjacencies,
    )


ALL_CERTIFICATIONS = worlds()
INVALID_CERTIFICATIONS = worlds(expired_certification | future_certification)


World = tuple[CallFacts, list[Candidate], Policy, datetime, Adjacency]


def route(world: World) -> Recommendation:
    call, pool, policy, now, adjacency = world
    return recommend(call, pool, policy, now, adjacency=adjacency)


@settings(deadline=None)
@given(world=ALL_CERTIFICATIONS)
def test_recommended_units_are_eligible_in_reach_and_their_cit_claims_are_real(
    world: World,
) -> None:
    call, pool, policy, now, adjacency = world
    rec = route(world)
    for unit in rec.units:
        backing = [
            c
            for c in sources((unit.responder_type, unit.responder_id), pool)
            if in_reach(c, call, policy, adjacency, now)
            and (c.name, c.call_sign, c.shift_district)
            == (unit.name, unit.call_sign, unit.district)
        ]
        assert backing, f"{unit} is off shift, unavailable, inactive or out of reach"
        # cit_certified is true exactly when the officer holds a certification valid on the
        # agency's date; a co-responder never is CIT, whatever is on record.
        assert unit.cit_certified in {cit_valid(c, now.date()) for c in backing}
        if unit.cit_certified:
            assert unit.responder_type == "officer"


@settings(deadline=None)
@given(world=INVALID_CERTIFICATIONS)
def test_expired_or_not_yet_valid_certifications_never_count_as_cit(world: World) -> None:
    rec = route(world)
    assert not any(u.cit_certified for u in rec.units)
    assert "cit_scene_lead" not in {r.rule for r in rec.reasons}
    assert not {"no_cit_in_district", "cit_from_adjacent_district"} & {w.code for w in rec.warnings}
    if rec.lead == "law_enforcement" or any(u.role == "backup" for u in rec.units):
        assert "no_cit_available" in {w.code for w in rec.warnings}
        assert "cit_when_available" in rec.requests


@settings(deadline=None)
@given(world=ALL_CERTIFICATIONS)
def test_safety_concern_means_law_enforcement_leads_with_cit_officer_when_one_is_in_reach(
    world: World,
) -> None:
    call, pool, policy, now, adjacency = world
    rec = route(world)
    assert rec.safety_concern == concern(call, policy)
    if not rec.safety_concern:
        return
    assert rec.lead == "law_enforcement"
    leads = [u for u in rec.units if u.role == "lead"]
    # Co-responders are never sent into a flagged scene without an officer in charge.
    assert all(u.responder_type == "officer" for u in leads)
    cit_in_reach = any(
        in_reach(c, call, policy, adjacency, now) and cit_valid(c, now.date()) for c in pool
    )
    if cit_in_reach:
        assert len(leads) == 1
        assert leads[0].cit_certified


@settings(deadline=None)
@given(world=ALL_CERTIFICATIONS)
def test_exactly_one_lead_listed_first_no_responder_twice_and_roles_fit_the_lead(
    world: World,
) -> None:
    rec = route(world)
    ids = [(u.responder_type, u.responder_id) for u in rec.units]
    assert len(set(ids)) == len(ids)
    if not rec.units:
        assert "no_units_available" in {w.code for w in rec.warnings}
        return
    assert [u.role for u in rec.units].count("lead") == 1
    assert rec.units[0].role == "lead"
    kinds = {u.role: u.responder_type for u in rec.units}
    if rec.lead == "mental_health":
        assert kinds["lead"] == "co_responder"
        assert set(kinds) <= {"lead", "backup"}
        assert kinds.get("backup", "officer") == "officer"
    else:
        assert kinds["lead"] == "officer"
        assert set(kinds) <= {"lead", "support", "stabilize"}
        assert kinds.get("support", "co_responder") == "co_responder"
        assert kinds.get("stabilize", "officer") == "officer"


@settings(deadline=None)
@given(world=ALL_CERTIFICATIONS)
def test_warnings_name_every_unit_without_an_eta_and_every_unknown_nature(world: World) -> None:
    call, _, policy, _, _ = world
    rec = route(world)
    messages = {w.code: w.message for w in rec.warnings}
    # With the call's location known, a unit has no ETA only when its own location is unknown.
    without_eta = [u.call_sign for u in rec.units if u.eta_minutes is None]
    if call.location is None or not without_eta:
        assert "eta_unknown" not in messages
    else:
        assert all(sign in messages["eta_unknown"] for sign in without_eta)
    assert ("unknown_nature" in messages) == unknown_nature(call, policy)


@settings(deadline=None)
@given(world=ALL_CERTIFICATIONS, data=st.data())
def test_candidate_order_does_not_change_the_recommendation(
    world: World, data: st.DataObject
) -> None:
    call, pool, policy, now, adjacency = world
    unique = list({(c.responder_type, c.responder_id): c for c in pool}.values())
    shuffled = data.draw(st.permutations(unique))
    first = recommend(call, unique, policy, now, adjacency=adjacency)
    assert recommend(call, shuffled, policy, now, adjacency=adjacency) == first


# Anything well-typed, however odd, gets an answer.

floats = st.floats(allow_nan=True, allow_infinity=True)
texts = st.sampled_from(("", " ", "D1", "d1", "MTLV", "ß", "\x00")) | st.text(max_size=3)
zones = st.sampled_from(
    (UTC, timezone(timedelta(hours=-12)), timezone(timedelta(hours=14)), ZoneInfo("Europe/Dublin"))
)
aware = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=zones
)
wild_candidates = st.builds(
    Candidate,
    responder_type=st.sampled_from(("officer", "co_responder")),
    responder_id=st.uuids(),
    name=texts,
    call_sign=texts,
    shift_district=texts | st.sampled_from(DISTRICTS),
    also_covers=st.frozensets(texts | st.sampled_from(DISTRICTS), max_size=2),
    shift_starts_at=aware,
    shift_ends_at=aware,
    status=texts | st.just("available"),
    active=st.booleans(),
    location=st.none() | st.builds(GeoPoint, floats, floats),
    certifications=st.lists(st.builds(CertificationPeriod, st.dates(), st.dates()), max_size=2).map(
        tuple
    ),
    trainings=st.frozensets(texts | st.sampled_from(TRAININGS), max_size=2),
    specialties=st.frozensets(texts | st.just("youth"), max_size=2),
    assignments_24h=st.integers(),
)
wild_calls = st.builds(
    CallFacts,
    district=texts | st.sampled_from(DISTRICTS),
    location=st.none() | st.builds(GeoPoint, floats, floats),
    nature=st.none() | st.text(max_size=10),
    safety=st.frozensets(texts | st.sampled_from(SAFETY_FLAGS), max_size=3),
    subject_age=st.none() | st.integers(),
)
wild_policies = st.builds(
    Policy,
    version=st.integers(),
    safety_flags=st.frozensets(texts | st.sampled_from(SAFETY_FLAGS), max_size=3),
    nature_flags=st.dictionaries(texts, st.frozensets(texts | st.sampled_from(SAFETY_FLAGS))),
    le_backup_for_mh_lead=st.booleans(),
    adjacency_depth=st.integers(min_value=-5, max_value=50),
    speed_kmh=floats,
)


@settings(deadline=None)
@given(
    call=wild_calls,
    pool=st.lists(wild_candidates, max_size=8),
    policy=wild_policies,
    now=aware,
    adjacency=st.none() | st.dictionaries(texts, st.frozensets(texts | st.sampled_from(DISTRICTS))),
)
def test_any_well_typed_input_gets_a_well_formed_recommendation(
    call: CallFacts,
    pool: list[Candidate],
    policy: Policy,
    now: datetime,
    adjacency: Mapping[str, frozenset[str]] | None,
) -> None:
    rec = recommend(call, pool, policy, now, adjacency=adjacency)
    assert rec.lead in ("mental_health", "law_enforcement")
    assert rec.policy_version == policy.version
    assert set(rec.requests) <= {"ems", "mh_phone_consult", "cit_when_available"}
    assert len(set(rec.requests)) == len(rec.requests)
    assert len({w.code for w in rec.warnings}) == len(rec.warnings)
    assert len({r.rule for r in rec.reasons}) == len(rec.reasons) > 0
    assert bool(rec.units) == ("rank" in {r.rule for r in rec.reasons})
    # The safety reason says it; the rules after it do not say it again.
    said = [r.rule for r in rec.reasons if "safety concern flagged" in r.message.lower()]
    assert len(said) <= 1
    for unit in rec.units:
        for value in (unit.eta_minutes, unit.distance_km):
            assert value is None or value == round(value, 1) >= 0
