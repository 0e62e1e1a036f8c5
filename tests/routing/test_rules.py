"""One test (or more) per routing rule of SPEC §4.2, on the pure core."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from app.routing import recommend
from app.routing.types import CallFacts, Candidate, Policy, Recommendation
from tests.routing.builders import (
    CALL_POINT,
    GRID,
    NOW,
    TODAY,
    certified_on_day,
    co_responder,
    expired,
    not_yet_valid,
    officer,
    roles,
    rules,
    warnings,
)

POLICY = Policy()


def call(district: str = "D1", **kw: Any) -> CallFacts:
    return CallFacts(district=district, location=CALL_POINT, **kw)


def run(facts: CallFacts, *candidates: Candidate, policy: Policy = POLICY) -> Recommendation:
    return recommend(facts, list(candidates), policy, NOW, adjacency=GRID)


def test_no_flags_and_co_responder_in_district_mental_health_leads_with_cit_backup() -> None:
    rec = recommend(
        call(),
        [co_responder("MCT-1", km_north=3), officer("1A1", cit=True, km_north=2)],
        POLICY,
        NOW,
        adjacency=GRID,
    )
    assert rec.lead == "mental_health"
    assert not rec.safety_concern
    assert roles(rec) == {"MCT-1": "lead", "1A1": "backup"}
    assert rec.units[0].role == "lead"
    assert "mh_lead" in rules(rec)
    assert rec.warnings == ()


def test_weapon_flag_makes_cit_officer_lead_even_if_non_cit_is_closer() -> None:
    rec = recommend(
        call(safety=frozenset({"weapon"})),
        [officer("1A1", km_north=0.5), officer("1A2", cit=True, km_north=5), co_responder("MCT-1")],
        POLICY,
        NOW,
        adjacency=GRID,
    )
    assert rec.lead == "law_enforcement"
    assert rec.safety_concern
    assert roles(rec) == {"1A2": "lead", "MCT-1": "support"}
    assert {"safety_flagged", "le_lead", "cit_scene_lead"} <= rules(rec)


def test_each_default_safety_flag_is_a_concern_but_medical_alone_is_not() -> None:
    for flag in ("weapon", "violence", "threat_to_others", "crime_in_progress"):
        rec = recommend(call(safety=frozenset({flag})), [co_responder("M")], POLICY, NOW)
        assert rec.lead == "law_enforcement", flag
    medical = recommend(
        call(safety=frozenset({"medical_emergency"})), [co_responder("M")], POLICY, NOW
    )
    assert medical.lead == "mental_health"
    assert "ems" in medical.requests
    assert "medical" in rules(medical)


def test_nature_code_maps_to_a_flag_case_insensitively() -> None:
    rec = recommend(
        call(nature=" mtlv "), [co_responder("M"), officer("1A1", cit=True)], POLICY, NOW
    )
    assert rec.safety_concern
    assert roles(rec)["1A1"] == "lead"
    assert "nature" in next(r.message for r in rec.reasons if r.rule == "safety_flagged")


def test_nature_mapping_to_a_flag_outside_the_policy_is_no_concern() -> None:
    policy = replace(POLICY, safety_flags=frozenset({"weapon"}))
    rec = recommend(call(nature="MTLV"), [co_responder("M")], policy, NOW)
    assert rec.lead == "mental_health"


def test_policy_may_make_medical_emergency_a_safety_flag() -> None:
    policy = replace(POLICY, safety_flags=POLICY.safety_flags | {"medical_emergency"})
    rec = recommend(call(safety=frozenset({"medical_emergency"})), [co_responder("M")], policy, NOW)
    assert rec.lead == "law_enforcement"


def test_safety_concern_without_co_responder_warns_and_requests_phone_consult() -> None:
    rec = recommend(call(safety=frozenset({"violence"})), [officer("1A1", cit=True)], POLICY, NOW)
    assert roles(rec) == {"1A1": "lead"}
    assert "no_co_responder_available" in warnings(rec)
    assert "mh_phone_consult" in rec.requests


def test_no_co_responder_means_best_cit_officer_leads_with_phone_consult() -> None:
    rec = recommend(
        call(), [officer("1A1", km_north=1), officer("1A2", cit=True, km_north=4)], POLICY, NOW
    )
    assert rec.lead == "law_enforcement"
    assert roles(rec) == {"1A2": "lead"}
    assert "no_co_responder" in rules(rec)
    assert "cit_scene_lead" in rules(rec)
    assert "no_co_responder_available" in warnings(rec)
    assert rec.requests == ("mh_phone_consult",)


def test_no_cit_in_district_brings_adjacent_cit_and_trained_in_district_stabilizer() -> None:
    rec = run(
        call("D4", safety=frozenset({"weapon"})),
        officer("2A1", "D2", cit=True, km_north=1),
        officer("4A1", "D4", km_north=0.1),
        officer("4A2", "D4", trainings=frozenset({"mh_awareness"}), km_north=0.2),
        officer("4A3", "D4", trainings=frozenset({"de_escalation"}), km_north=3),
    )
    assert roles(rec) == {"2A1": "lead", "4A3": "stabilize"}
    assert {"no_cit_in_district", "cit_from_adjacent_district"} <= warnings(rec)
    assert "cit_adjacent" in rules(rec)


def test_mental_health_awareness_beats_no_training_for_stabilize() -> None:
    rec = run(
        call("D4", safety=frozenset({"weapon"})),
        officer("2A1", "D2", cit=True),
        officer("4A1", "D4", km_north=0.1),
        officer("4A2", "D4", trainings=frozenset({"mh_awareness"}), km_north=5),
    )
    assert roles(rec)["4A2"] == "stabilize"


def test_mh_lead_with_adjacent_cit_backup_warns_but_adds_no_stabilizer() -> None:
    rec = run(
        call("D4"),
        co_responder("MCT-4", "D4"),
        officer("2A1", "D2", cit=True),
        officer("4A1", "D4", trainings=frozenset({"de_escalation"})),
    )
    assert roles(rec) == {"MCT-4": "lead", "2A1": "backup"}
    assert {"no_cit_in_district", "cit_from_adjacent_district"} <= warnings(rec)


def test_no_cit_in_reach_best_de_escalation_officer_and_cit_requested() -> None:
    rec = run(
        call("D4", safety=frozenset({"threat_to_others"})),
        officer("4A1", "D4", km_north=0.1),
        officer("4A2", "D4", trainings=frozenset({"de_escalation"}), km_north=6),
        officer("9A1", "D9", cit=True),  # not adjacent: out of reach
    )
    assert roles(rec) == {"4A2": "lead"}
    assert "no_cit_available" in warnings(rec)
    assert "cit_when_available" in rec.requests
    assert "no_cit" in rules(rec)
    assert "cit_scene_lead" not in rules(rec)


def test_in_district_officer_preferred_over_trained_adjacent_one_when_no_cit() -> None:
    rec = run(
        call("D4", safety=frozenset({"weapon"})),
        officer("4A1", "D4"),
        officer("2A1", "D2", trainings=frozenset({"de_escalation"})),
    )
    assert roles(rec) == {"4A1": "lead"}


def test_safety_concern_with_no_officer_does_not_send_co_responders_alone() -> None:
    rec = recommend(call(safety=frozenset({"weapon"})), [co_responder("MCT-1")], POLICY, NOW)
    assert rec.lead == "law_enforcement"
    assert rec.units == ()
    assert {"no_units_available", "no_cit_available"} <= warnings(rec)
    assert "no_units" in rules(rec)


def test_no_units_at_all_still_returns_a_recommendation() -> None:
    rec = recommend(call(), [], POLICY, NOW)
    assert rec.units == ()
    assert "no_units_available" in warnings(rec)
    assert "no_co_responder_available" in warnings(rec)
    assert "no_units" in rules(rec)
    assert rec.policy_version == POLICY.version


def test_ranking_prefers_serving_district_then_eta_then_workload_then_call_sign() -> None:
    adjacent_close = co_responder("MCT-A", "D2", km_north=0.1)
    serving_far = co_responder("MCT-S", "D1", km_north=9)
    rec = run(call(), adjacent_close, serving_far)
    assert roles(rec)["MCT-S"] == "lead"

    near, far = officer("1A2", cit=True, km_north=1), officer("1A1", cit=True, km_north=2)
    assert roles(run(call(safety=frozenset({"weapon"})), far, near))["1A2"] == "lead"

    busy = officer("1A1", cit=True, km_north=1, assignments_24h=3)
    rested = officer("1A2", cit=True, km_north=1, assignments_24h=0)
    assert roles(run(call(safety=frozenset({"weapon"})), busy, rested))["1A2"] == "lead"

    a, b = officer("1A1", cit=True), officer("1A2", cit=True)
    assert roles(run(call(safety=frozenset({"weapon"})), b, a))["1A1"] == "lead"


def test_unit_with_unknown_location_ranks_after_every_located_one() -> None:
    unknown = officer("1A0", cit=True, km_north=None)
    located_far = officer("1A9", cit=True, km_north=15)
    rec = run(call(safety=frozenset({"weapon"})), unknown, located_far)
    assert roles(rec)["1A9"] == "lead"


def test_eta_uses_policy_speed() -> None:
    rec = recommend(call(), [co_responder("M", km_north=10)], replace(POLICY, speed_kmh=60), NOW)
    assert rec.units[0].distance_km == 10.0
    assert rec.units[0].eta_minutes == 10.0


def test_youth_specialist_ranks_first_for_a_minor_among_serving_co_responders() -> None:
    near = co_responder("MCT-1", km_north=0.5)
    youth = co_responder("MCT-Y", specialties=frozenset({"youth"}), km_north=8)
    adult = recommend(call(), [near, youth], POLICY, NOW)
    minor = recommend(call(subject_age=15), [near, youth], POLICY, NOW)
    assert roles(adult)["MCT-1"] == "lead"
    assert roles(minor)["MCT-Y"] == "lead"
    assert "youth_specialty" in rules(minor)


def test_youth_specialist_from_adjacent_district_does_not_outrank_serving_one() -> None:
    serving = co_responder("MCT-1", "D1")
    adjacent_youth = co_responder("MCT-Y", "D2", specialties=frozenset({"youth"}))
    rec = run(call(subject_age=12), serving, adjacent_youth)
    assert roles(rec)["MCT-1"] == "lead"


def test_also_covers_makes_a_unit_serve_the_district() -> None:
    covering = co_responder("MCT-C", "D5", also_covers=frozenset({"D1"}), km_north=9)
    adjacent = co_responder("MCT-2", "D2", km_north=0.1)
    rec = run(call(), covering, adjacent)
    assert roles(rec)["MCT-C"] == "lead"


def test_adjacency_depth_limits_reach() -> None:
    far_cit = officer("5A1", "D5", cit=True)  # D5 is two hops from D2
    shallow = run(call("D2", safety=frozenset({"weapon"})), far_cit)
    assert shallow.units == ()
    deep = run(
        call("D2", safety=frozenset({"weapon"})), far_cit, policy=replace(POLICY, adjacency_depth=2)
    )
    assert roles(deep) == {"5A1": "lead"}
    none = run(
        call("D4", safety=frozenset({"weapon"})),
        officer("2A1", "D2", cit=True),
        policy=replace(POLICY, adjacency_depth=0),
    )
    assert none.units == ()


def test_le_backup_can_be_turned_off_by_policy() -> None:
    policy = replace(POLICY, le_backup_for_mh_lead=False)
    rec = recommend(call(), [co_responder("M"), officer("1A1", cit=True)], policy, NOW)
    assert roles(rec) == {"M": "lead"}
    assert rec.warnings == ()


def test_ineligible_units_are_never_recommended() -> None:
    rec = recommend(
        call(safety=frozenset({"weapon"})),
        [
            officer("OFF", cit=True, on_shift=False),
            officer("BUSY", cit=True, status="on_scene"),
            officer("GONE", cit=True, active=False),
            officer("OOS", cit=True, status="out_of_service"),
            co_responder("MCT-X", status="dispatched"),
        ],
        POLICY,
        NOW,
    )
    assert rec.units == ()


def test_expired_or_future_certification_does_not_count_as_cit() -> None:
    rec = recommend(
        call(safety=frozenset({"weapon"})),
        [
            officer("1A1", certifications=(expired(),), km_north=0.1),
            officer("1A2", certifications=(not_yet_valid(),), km_north=0.2),
        ],
        POLICY,
        NOW,
    )
    assert "no_cit_available" in warnings(rec)
    assert all(not u.cit_certified for u in rec.units)


def test_certification_is_valid_from_its_first_day_until_the_day_before_expiry() -> None:
    first_day = officer("1A1", certifications=(certified_on_day(TODAY),))
    expires_today = officer("1A2", certifications=(certified_on_day(TODAY - timedelta(days=365)),))
    rec = recommend(call(safety=frozenset({"weapon"})), [expires_today, first_day], POLICY, NOW)
    assert roles(rec) == {"1A1": "lead"}
    assert rec.units[0].cit_certified


def test_exactly_one_lead_first_and_no_duplicates() -> None:
    rec = run(
        call("D4", safety=frozenset({"weapon"})),
        officer("2A1", "D2", cit=True),
        officer("4A1", "D4"),
        co_responder("MCT-4", "D4"),
    )
    assert [u.role for u in rec.units].count("lead") == 1
    assert rec.units[0].role == "lead"
    assert len({u.responder_id for u in rec.units}) == len(rec.units)
