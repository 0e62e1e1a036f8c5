"""One test (or more) per routing rule of docs/routing.md, "Rules", on the pure core."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.routing.types import CallFacts, Policy
from app.vocabulary import SAFETY_FLAGS
from tests.routing.builders import (
    NOW,
    POLICY,
    WEAPON,
    call,
    co_responder,
    officer,
    reason,
    roles,
    rules,
    run,
    warning,
    warnings,
)

DE_ESCALATION = frozenset({"de_escalation"})
MH_AWARENESS = frozenset({"mh_awareness"})

# safety_flagged / le_lead / cit_scene_lead


def test_weapon_flag_makes_cit_officer_lead_even_if_non_cit_is_closer() -> None:
    rec = run(
        call(safety=WEAPON),
        officer("1A1", km_north=0.5),
        officer("1A2", cit=True, km_north=5),
        co_responder("MCT-1", km_north=1),
    )
    assert rec.lead == "law_enforcement"
    assert rec.safety_concern
    assert roles(rec) == {"1A2": "lead", "MCT-1": "support"}
    assert rec.units[0].call_sign == "1A2"
    assert rec.units[0].cit_certified
    assert rules(rec)[:2] == ["safety_flagged", "le_lead"]
    assert "cit_scene_lead" in rules(rec)
    assert "1A2" in reason(rec, "cit_scene_lead")
    assert "weapon" in reason(rec, "safety_flagged")
    assert rec.warnings == ()
    assert rec.requests == ()


@pytest.mark.parametrize("flag", ["weapon", "violence", "threat_to_others", "crime_in_progress"])
def test_each_default_safety_flag_makes_law_enforcement_lead_over_available_co_responder(
    flag: str,
) -> None:
    rec = run(call(safety=frozenset({flag})), co_responder("M"), officer("1A1", cit=True))
    assert rec.lead == "law_enforcement"
    assert roles(rec) == {"1A1": "lead", "M": "support"}
    assert flag in reason(rec, "safety_flagged")


@pytest.mark.parametrize("nature", ["MTLV", " mtlv ", "Mtlv"])
def test_nature_code_implies_violence_case_insensitively_and_reason_names_the_nature(
    nature: str,
) -> None:
    rec = run(call(nature=nature), co_responder("M"), officer("1A1", cit=True))
    assert rec.safety_concern
    assert roles(rec) == {"1A1": "lead", "M": "support"}
    message = reason(rec, "safety_flagged")
    assert "violence" in message
    assert nature.strip() in message


def test_safety_reason_does_not_mention_nature_that_implied_nothing() -> None:
    rec = run(call(nature="MNTL", safety=WEAPON), officer("1A1", cit=True))
    assert "nature" not in reason(rec, "safety_flagged")


def test_policy_nature_keys_match_whatever_their_case() -> None:
    policy = replace(POLICY, nature_flags={"suicthrt": frozenset({"threat_to_others"})})
    rec = run(call(nature="SuicThrt"), co_responder("M"), officer("1A1"), policy=policy)
    assert rec.lead == "law_enforcement"


@pytest.mark.parametrize("nature", [None, "", "   ", "MNTL", "ÿ?\x00", "weapon of choice"])
def test_nature_without_a_mapping_raises_no_concern(nature: str | None) -> None:
    rec = run(call(nature=nature), co_responder("M"), officer("1A1", cit=True))
    assert not rec.safety_concern
    assert rec.lead == "mental_health"


def test_nature_implying_a_flag_outside_the_policy_safety_flags_is_no_concern() -> None:
    policy = replace(POLICY, safety_flags=frozenset({"weapon"}))
    rec = run(call(nature="MTLV"), co_responder("M"), policy=policy)
    assert not rec.safety_concern
    assert rec.lead == "mental_health"


# The default policy makes the registry's violent incident types safety concerns.


@pytest.mark.parametrize(
    ("nature", "flags"),
    [
        ("ACTSHOOT", {"weapon", "violence", "threat_to_others"}),
        ("SHOOT", {"weapon", "violence"}),
        ("STABBING", {"weapon", "violence"}),
        ("NCRASLTWF", {"weapon", "violence"}),
        ("HOSTAGE", {"violence", "threat_to_others"}),
        ("BARICADE", {"threat_to_others"}),
        ("BOMB", {"weapon", "threat_to_others"}),
        ("dva", {"violence"}),
        ("MTLV", {"violence"}),
        ("WEAPON", {"weapon"}),
    ],
)
def test_default_policy_makes_violent_registry_types_a_safety_concern(
    nature: str, flags: set[str]
) -> None:
    rec = run(call(nature=nature), co_responder("M", km_north=1), officer("1A1", cit=True))
    assert rec.safety_concern
    assert roles(rec) == {"1A1": "lead", "M": "support"}
    assert all(flag in reason(rec, "safety_flagged") for flag in flags)
    assert Policy().nature_flags[nature.upper()] == flags


@pytest.mark.parametrize("nature", ["MNTL", "EDP", "SUICIDE", "SUICTHRT", "WELFARE"])
def test_default_policy_leaves_mental_health_types_to_mental_health(nature: str) -> None:
    rec = run(call(nature=nature), co_responder("M", km_north=1), officer("1A1", km_north=1))
    assert not rec.safety_concern
    assert rec.lead == "mental_health"


def test_safety_concern_without_co_responder_warns_and_requests_phone_consult() -> None:
    rec = run(call(safety=frozenset({"violence"})), officer("1A1", cit=True, km_north=1))
    assert roles(rec) == {"1A1": "lead"}
    assert warnings(rec) == ["no_co_responder_available"]
    assert rec.requests == ("mh_phone_consult",)


def test_safety_concern_with_no_officer_does_not_send_co_responders_alone() -> None:
    rec = run(
        call(safety=WEAPON),
        co_responder("MCT-2", km_north=5),
        co_responder("MCT-1", km_north=1),
        officer("9A1", "D9", cit=True),
    )
    assert rec.lead == "law_enforcement"
    assert rec.units == ()
    assert warnings(rec) == ["no_cit_available", "no_units_available"]
    assert "no co-responder is sent in alone" in warning(rec, "no_units_available")
    assert "MCT-1 is the nearest available" in warning(rec, "no_units_available")
    assert rec.requests == ("mh_phone_consult", "cit_when_available")
    assert {"safety_flagged", "le_lead", "no_cit", "no_units"} <= set(rules(rec))
    assert "rank" not in rules(rec)


# mh_lead


def test_no_flags_and_co_responder_in_district_mental_health_leads_with_cit_backup() -> None:
    rec = run(call(), co_responder("MCT-1", km_north=3), officer("1A1", cit=True, km_north=2))
    assert rec.lead == "mental_health"
    assert not rec.safety_concern
    assert [(u.call_sign, u.role) for u in rec.units] == [("MCT-1", "lead"), ("1A1", "backup")]
    assert rules(rec) == ["mh_lead", "rank"]
    assert "MCT-1" in reason(rec, "mh_lead")
    assert "1A1" in reason(rec, "mh_lead")
    assert rec.warnings == ()
    assert rec.requests == ()


def test_co_responder_from_adjacent_district_still_makes_mental_health_lead() -> None:
    rec = run(call("D1"), co_responder("MCT-2", "D2"), officer("1A1", cit=True))
    assert rec.lead == "mental_health"
    assert roles(rec) == {"MCT-2": "lead", "1A1": "backup"}


def test_law_enforcement_backup_off_sends_no_officer_and_raises_no_cit_warnings() -> None:
    policy = replace(POLICY, le_backup_for_mh_lead=False)
    with_officer = run(call(), co_responder("M"), officer("1A1", cit=True), policy=policy)
    assert roles(with_officer) == {"M": "lead"}
    without_officer = run(call(), co_responder("M", km_north=1), policy=policy)
    assert roles(without_officer) == {"M": "lead"}
    assert without_officer.warnings == ()
    assert without_officer.requests == ()


def test_mh_lead_with_adjacent_cit_backup_warns_but_adds_no_stabilizer() -> None:
    rec = run(
        call("D4"),
        co_responder("MCT-4", "D4", km_north=1),
        officer("2A1", "D2", cit=True, km_north=1),
        officer("4A1", "D4", trainings=DE_ESCALATION),
    )
    assert roles(rec) == {"MCT-4": "lead", "2A1": "backup"}
    assert warnings(rec) == ["no_cit_in_district", "cit_from_adjacent_district"]
    assert "cit_adjacent" in rules(rec)
    assert "cit_scene_lead" not in rules(rec)


def test_mh_lead_with_no_cit_in_reach_backs_up_with_best_trained_officer_and_requests_cit() -> None:
    rec = run(
        call(),
        co_responder("M", km_north=1),
        officer("1A1", km_north=0.1),
        officer("1A2", trainings=DE_ESCALATION, km_north=5),
    )
    assert roles(rec) == {"M": "lead", "1A2": "backup"}
    assert warnings(rec) == ["no_cit_available"]
    assert rec.requests == ("cit_when_available",)
    assert "no_cit" in rules(rec)


def test_mh_lead_with_no_officer_at_all_still_sends_the_co_responder() -> None:
    rec = run(call(), co_responder("M", km_north=1))
    assert roles(rec) == {"M": "lead"}
    assert "none available" in reason(rec, "mh_lead")
    assert warnings(rec) == ["no_cit_available"]
    assert rec.requests == ("cit_when_available",)


# no_co_responder


def test_no_co_responder_means_best_cit_officer_leads_with_phone_consult() -> None:
    rec = run(call(), officer("1A1", km_north=1), officer("1A2", cit=True, km_north=4))
    assert rec.lead == "law_enforcement"
    assert not rec.safety_concern
    assert roles(rec) == {"1A2": "lead"}
    assert {"no_co_responder", "cit_scene_lead", "rank"} <= set(rules(rec))
    assert warnings(rec) == ["no_co_responder_available"]
    assert rec.requests == ("mh_phone_consult",)


def test_no_co_responder_and_only_adjacent_cit_adds_in_district_stabilizer() -> None:
    rec = run(call("D4"), officer("2A1", "D2", cit=True), officer("4A1", "D4"))
    assert roles(rec) == {"2A1": "lead", "4A1": "stabilize"}
    assert {"no_co_responder", "cit_adjacent", "cit_scene_lead"} <= set(rules(rec))


# cit_adjacent


def test_no_cit_in_district_brings_adjacent_cit_and_de_escalation_trained_stabilizer() -> None:
    rec = run(
        call("D4", safety=WEAPON),
        officer("2A1", "D2", cit=True, km_north=1),
        officer("4A1", "D4", km_north=0.1),
        officer("4A2", "D4", trainings=MH_AWARENESS, km_north=0.2),
        officer("4A3", "D4", trainings=DE_ESCALATION, km_north=3),
    )
    assert [(u.call_sign, u.role) for u in rec.units] == [("2A1", "lead"), ("4A3", "stabilize")]
    assert warnings(rec) == [
        "no_cit_in_district",
        "cit_from_adjacent_district",
        "no_co_responder_available",
    ]
    message = reason(rec, "cit_adjacent")
    assert all(part in message for part in ("D4", "2A1", "D2", "4A3"))
    assert "cit_scene_lead" in rules(rec)


def test_a_cit_officer_on_shift_but_busy_is_not_said_to_be_off_shift() -> None:
    """The reason said "No CIT officer on shift in D4" beside a board showing D4's CIT
    officer on shift, out of service (an outside-in check); the warning already said "on
    shift and available"."""
    rec = run(
        call("D4", safety=WEAPON),
        officer("2A1", "D2", cit=True),
        officer("4A9", "D4", cit=True, status="out_of_service"),
        officer("4A1", "D4"),
    )
    assert roles(rec)["2A1"] == "lead"
    assert reason(rec, "cit_adjacent").startswith("No CIT officer on shift and available in D4;")


@pytest.mark.parametrize("rule", ["mh_lead", "no_co_responder"])
def test_flags_the_policy_does_not_count_are_named_not_denied(rule: str) -> None:
    """A policy counting weapon and violence only: a call flagged threat_to_others and
    crime_in_progress had mental health lead (as the policy says) under a reason opening
    "No safety concern flagged", beside the flags the dispatcher had just set (an
    outside-in check)."""
    narrow = replace(POLICY, safety_flags=frozenset({"weapon", "violence"}))
    flagged = call(safety=frozenset({"threat_to_others", "crime_in_progress"}))
    units = [officer("1A1", cit=True)] + ([co_responder("M")] if rule == "mh_lead" else [])
    rec = run(flagged, *units, policy=narrow)
    assert rec.lead == ("mental_health" if rule == "mh_lead" else "law_enforcement")
    assert not rec.safety_concern
    assert reason(rec, rule).startswith(
        "The policy counts none of the flags set (crime_in_progress, threat_to_others) as a"
        " safety concern"
    )
    plain = run(call(safety=frozenset({"medical_emergency"})), *units, policy=narrow)
    assert reason(plain, rule).startswith("No safety concern flagged")


def test_mental_health_awareness_beats_no_training_for_stabilize() -> None:
    rec = run(
        call("D4", safety=WEAPON),
        officer("2A1", "D2", cit=True),
        officer("4A1", "D4", km_north=0.1),
        officer("4A2", "D4", trainings=MH_AWARENESS, km_north=5),
    )
    assert roles(rec) == {"2A1": "lead", "4A2": "stabilize"}


def test_adjacent_cit_lead_without_in_district_officer_has_no_stabilizer() -> None:
    rec = run(call("D4", safety=WEAPON), officer("2A1", "D2", cit=True), officer("3A1", "D3"))
    assert roles(rec) == {"2A1": "lead"}
    assert "no officer in D4" in reason(rec, "cit_adjacent")


def test_cit_from_nearest_ring_leads_before_a_closer_cit_two_districts_away() -> None:
    policy = replace(POLICY, adjacency_depth=2)
    rec = run(
        call("D2", safety=WEAPON),
        officer("4A1", "D4", cit=True, km_north=9),
        officer("3A1", "D3", cit=True, km_north=0.1),
        policy=policy,
    )
    assert roles(rec) == {"4A1": "lead"}


def test_cit_two_districts_away_leads_when_depth_allows_and_none_is_nearer() -> None:
    rec = run(
        call("D2", safety=WEAPON),
        officer("3A1", "D3", cit=True),
        policy=replace(POLICY, adjacency_depth=2),
    )
    assert roles(rec) == {"3A1": "lead"}
    assert "2 districts away" in warning(rec, "cit_from_adjacent_district")


# no_cit


def test_no_cit_in_reach_best_de_escalation_officer_leads_and_cit_requested() -> None:
    rec = run(
        call("D4", safety=frozenset({"threat_to_others"})),
        officer("4A1", "D4", km_north=0.1),
        officer("4A2", "D4", trainings=DE_ESCALATION, km_north=6),
        officer("9A1", "D9", cit=True),  # not adjacent: out of reach
        co_responder("MCT-4", "D4", km_north=1),
    )
    assert roles(rec) == {"4A2": "lead", "MCT-4": "support"}
    assert not rec.units[0].cit_certified
    assert warnings(rec) == ["no_cit_available"]
    assert rec.requests == ("cit_when_available",)
    assert "4A2" in reason(rec, "no_cit")
    assert "cit_scene_lead" not in rules(rec)


def test_in_district_officer_preferred_over_trained_adjacent_one_when_no_cit() -> None:
    rec = run(
        call("D4", safety=WEAPON),
        officer("4A1", "D4"),
        officer("2A1", "D2", trainings=DE_ESCALATION),
    )
    assert roles(rec) == {"4A1": "lead"}


def test_no_officer_and_no_co_responder_in_reach_means_no_units_with_every_warning() -> None:
    rec = run(call(), officer("9A1", "D9", cit=True), co_responder("M9", "D9"))
    assert rec.units == ()
    assert rec.lead == "law_enforcement"
    assert warnings(rec) == ["no_cit_available", "no_co_responder_available", "no_units_available"]
    assert rec.requests == ("mh_phone_consult", "cit_when_available")


# medical


def test_medical_emergency_requests_ems_but_mental_health_still_leads() -> None:
    rec = run(call(safety=frozenset({"medical_emergency"})), co_responder("M"), officer("1A1"))
    assert rec.lead == "mental_health"
    assert not rec.safety_concern
    assert "ems" in rec.requests
    assert "medical" in rules(rec)


def test_nature_implying_medical_emergency_requests_ems() -> None:
    policy = replace(POLICY, nature_flags={"OD": frozenset({"medical_emergency"})})
    rec = run(call(nature="od"), co_responder("M"), policy=policy)
    assert rec.lead == "mental_health"
    assert rec.requests[0] == "ems"


def test_policy_listing_medical_emergency_as_safety_flag_makes_law_enforcement_lead() -> None:
    policy = replace(POLICY, safety_flags=POLICY.safety_flags | {"medical_emergency"})
    rec = run(
        call(safety=frozenset({"medical_emergency"})),
        co_responder("M"),
        officer("1A1", cit=True),
        policy=policy,
    )
    assert rec.lead == "law_enforcement"
    assert roles(rec) == {"1A1": "lead", "M": "support"}
    assert "ems" in rec.requests


def test_no_medical_flag_no_ems() -> None:
    rec = run(call(safety=WEAPON), officer("1A1", cit=True))
    assert "ems" not in rec.requests
    assert "medical" not in rules(rec)


# no_units


def test_no_candidates_at_all_still_returns_a_recommendation() -> None:
    rec = run(call(location=None), adjacency=None)
    assert rec.units == ()
    assert rec.lead == "law_enforcement"
    assert "no_units_available" in warnings(rec)
    assert "no_co_responder_available" in warnings(rec)
    assert "no_units" in rules(rec)
    assert rec.policy_version == POLICY.version


def test_only_ineligible_units_means_no_units() -> None:
    rec = run(
        call(safety=WEAPON),
        officer("OFF", cit=True, on_shift=False),
        officer("BUSY", cit=True, status="on_scene"),
        officer("GONE", cit=True, active=False),
        officer("OOS", cit=True, status="out_of_service"),
        officer("ENDED", cit=True, shift_starts_at=NOW.replace(hour=0), shift_ends_at=NOW),
        co_responder("MCT-X", status="dispatched"),
        co_responder("MCT-G", active=False),
    )
    assert rec.units == ()
    assert "no_units_available" in warnings(rec)


# output shape


def test_every_rule_reason_appears_once_and_policy_version_is_recorded() -> None:
    policy = Policy(version=7)
    rec = run(
        call("D4", safety=frozenset({"weapon", "medical_emergency"}), nature="MTLV"),
        officer("2A1", "D2", cit=True, km_north=1),
        officer("3A1", "D3", cit=True, km_north=2),
        officer("4A1", "D4", km_north=1),
        policy=policy,
    )
    assert rec.policy_version == 7
    assert len(rules(rec)) == len(set(rules(rec)))
    assert set(rules(rec)) == {
        "safety_flagged",
        "le_lead",
        "cit_adjacent",
        "cit_scene_lead",
        "medical",
        "rank",
    }
    assert rec.requests == ("ems", "mh_phone_consult")
    assert warnings(rec) == [
        "no_cit_in_district",
        "cit_from_adjacent_district",
        "no_co_responder_available",
    ]


def test_units_are_listed_lead_first_then_support_then_stabilize() -> None:
    rec = run(
        CallFacts(district="D4", safety=frozenset(SAFETY_FLAGS)),
        officer("4A1", "D4"),
        co_responder("MCT-4", "D4"),
        officer("2A1", "D2", cit=True),
    )
    assert [(u.call_sign, u.role) for u in rec.units] == [
        ("2A1", "lead"),
        ("MCT-4", "support"),
        ("4A1", "stabilize"),
    ]
    assert [u.district for u in rec.units] == ["D2", "D4", "D4"]


# Reasons say each thing once.


def test_rank_reason_is_one_short_line_naming_the_district() -> None:
    rec = run(
        call("D4"),
        co_responder("MCT-4", "D4", km_north=1),
        officer("4A1", "D4", cit=True, km_north=1),
        officer("4A2", "D4", cit=True, km_north=2),
    )
    assert rules(rec).count("rank") == 1
    message = reason(rec, "rank")
    assert "D4" in message
    assert len(message) <= 80


@pytest.mark.parametrize("nature", [None, "MTLV"])
def test_safety_concern_flagged_is_said_once(nature: str | None) -> None:
    for rec in (
        run(call(safety=WEAPON, nature=nature), co_responder("M"), officer("1A1", cit=True)),
        run(call(safety=WEAPON, nature=nature), co_responder("M")),
        run(call(safety=WEAPON, nature=nature), officer("1A1", cit=True)),
    ):
        said = [r.rule for r in rec.reasons if "safety concern flagged" in r.message.lower()]
        assert said == ["safety_flagged"]
        assert rules(rec)[:2] == ["safety_flagged", "le_lead"]


def test_le_lead_reason_names_the_lead_and_the_support() -> None:
    rec = run(call(safety=WEAPON), co_responder("MCT-1"), officer("1A1", cit=True))
    assert reason(rec, "le_lead") == "Law enforcement (1A1) leads, mental health (MCT-1) supports"
