"""The warnings that tell a dispatcher what the units alone do not show: a co-responder
from next door, a minor without a youth specialist, an unknown nature, a unit without an ETA
(docs/routing.md, "Rules")."""

from __future__ import annotations

from dataclasses import replace
from uuid import uuid4

import pytest

from app.routing.types import LeftUnit
from app.vocabulary import CAPACITY_WARNINGS
from tests.routing.builders import (
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

YOUTH = frozenset({"youth"})

# eta_unknown


def test_recommended_units_without_a_location_are_named_in_eta_unknown() -> None:
    rec = run(
        call(),
        co_responder("MCT-1"),
        officer("1A1", cit=True, km_north=2),
        officer("1A2", cit=True),
    )
    assert [(u.call_sign, u.eta_minutes) for u in rec.units] == [("MCT-1", None), ("1A1", 3.0)]
    assert warnings(rec) == ["eta_unknown"]
    message = warning(rec, "eta_unknown")
    assert "MCT-1" in message
    assert "1A1" not in message
    assert "1A2" not in message  # not recommended


def test_eta_unknown_names_every_unlocated_unit_in_listing_order() -> None:
    rec = run(call(safety=WEAPON), co_responder("MCT-1"), officer("1A1", cit=True))
    assert roles(rec) == {"1A1": "lead", "MCT-1": "support"}
    assert warning(rec, "eta_unknown") == "No ETA for 1A1, MCT-1: location unknown"


def test_units_all_located_give_no_eta_warning() -> None:
    rec = run(call(), co_responder("MCT-1", km_north=1), officer("1A1", cit=True, km_north=2))
    assert rec.warnings == ()


def test_a_call_without_a_location_gives_no_eta_warning() -> None:
    # Every ETA is unknown then; the dispatcher knows the call was sent without a location.
    rec = run(call(location=None), co_responder("MCT-1"), officer("1A1", cit=True))
    assert all(u.eta_minutes is None for u in rec.units)
    assert "eta_unknown" not in warnings(rec)


# no_youth_specialist


@pytest.mark.parametrize("age", [0, 12, 17])
def test_minor_with_no_youth_specialist_serving_the_district_is_warned(age: int) -> None:
    rec = run(call(subject_age=age), co_responder("MCT-1", km_north=1))
    assert warnings(rec) == ["no_cit_available", "no_youth_specialist"]
    assert f"is {age}" in warning(rec, "no_youth_specialist")
    assert "D1" in warning(rec, "no_youth_specialist")


def test_no_youth_specialist_is_listed_after_the_co_responder_warnings() -> None:
    rec = run(call(subject_age=15), officer("1A1", cit=True, km_north=1))
    assert warnings(rec) == ["no_co_responder_available", "no_youth_specialist"]


def test_minor_with_a_youth_specialist_serving_the_district_gets_no_youth_warning() -> None:
    rec = run(
        call(subject_age=15),
        co_responder("MCT-1", km_north=1),
        co_responder("MCT-Y", km_north=9, specialties=YOUTH),
        officer("1A1", cit=True, km_north=1),
    )
    assert roles(rec) == {"MCT-Y": "lead", "1A1": "backup"}
    assert rec.warnings == ()
    assert rules(rec) == ["mh_lead", "youth_specialty", "rank"]


@pytest.mark.parametrize("age", [None, 18, 40])
def test_adult_or_unknown_age_gets_no_youth_warning(age: int | None) -> None:
    rec = run(call(subject_age=age), co_responder("MCT-1", km_north=1), officer("1A1", cit=True))
    assert "no_youth_specialist" not in warnings(rec)


def test_youth_specialist_off_shift_or_in_an_adjacent_district_does_not_count() -> None:
    rec = run(
        call(subject_age=15),
        co_responder("MCT-1", km_north=1),
        co_responder("MCT-Y", on_shift=False, specialties=YOUTH),
        co_responder("MCT-2Y", "D2", km_north=0.1, specialties=YOUTH),
        officer("1A1", cit=True, km_north=1),
    )
    assert roles(rec) == {"MCT-1": "lead", "1A1": "backup"}
    assert warnings(rec) == ["no_youth_specialist"]


def test_youth_specialist_sent_from_an_adjacent_district_is_no_youth_gap() -> None:
    rec = run(
        call(subject_age=15),
        co_responder("MCT-2Y", "D2", km_north=1, specialties=YOUTH),
        officer("1A1", cit=True, km_north=1),
    )
    assert roles(rec) == {"MCT-2Y": "lead", "1A1": "backup"}
    assert warnings(rec) == ["co_responder_from_adjacent_district"]


# co_responder_from_adjacent_district


def test_co_responder_lead_from_adjacent_district_is_warned_like_a_cit_officer() -> None:
    rec = run(call("D1"), co_responder("MCT-2", "D2", km_north=1), officer("1A1", cit=True))
    assert roles(rec)["MCT-2"] == "lead"
    assert "co_responder_from_adjacent_district" in warnings(rec)
    message = warning(rec, "co_responder_from_adjacent_district")
    assert "No co-responder is available in D1" in message
    assert "MCT-2 comes from adjacent district D2" in message


def test_co_responder_support_from_adjacent_district_is_warned() -> None:
    rec = run(
        call("D1", safety=WEAPON),
        co_responder("MCT-2", "D2", km_north=1),
        officer("1A1", cit=True, km_north=1),
    )
    assert roles(rec) == {"1A1": "lead", "MCT-2": "support"}
    assert warnings(rec) == ["co_responder_from_adjacent_district"]


def test_co_responder_two_districts_away_is_named_with_its_distance() -> None:
    rec = run(
        call("D1"),
        co_responder("MCT-4", "D4", km_north=1),
        officer("1A1", cit=True, km_north=1),
        policy=replace(POLICY, adjacency_depth=2),
    )
    assert roles(rec)["MCT-4"] == "lead"
    assert "2 districts away, district D4" in warning(rec, "co_responder_from_adjacent_district")


def test_co_responder_serving_the_district_through_also_covers_is_not_adjacent() -> None:
    rec = run(
        call("D1"),
        co_responder("MCT-2", "D2", km_north=1, also_covers=frozenset({"D1"})),
        officer("1A1", cit=True, km_north=1),
    )
    assert roles(rec)["MCT-2"] == "lead"
    assert rec.warnings == ()


def test_co_responder_kept_back_from_a_flagged_call_is_not_warned_as_adjacent() -> None:
    rec = run(call("D1", safety=WEAPON), co_responder("MCT-2", "D2", km_north=1))
    assert rec.units == ()
    assert "co_responder_from_adjacent_district" not in warnings(rec)


# units working the call from another district (a dispatched call's re-triage)


def test_cit_officer_on_the_call_from_next_door_is_still_said_to_come_from_there() -> None:
    """Ranked first as on the call, it was said to serve the district: the re-triage's
    dispatcher lost the warning the first recommendation gave, and the stabiliser on the
    call was left out of the recommendation."""
    working = officer("2C1", "D2", cit=True, status="on_scene", on_call=True)
    stabilizing = officer("1A1", status="on_scene", on_call=True)
    free_here = officer("1A2", trainings=frozenset({"de_escalation"}), km_north=1)
    rec = run(call("D1", safety=WEAPON), working, stabilizing, free_here)
    assert roles(rec) == {"2C1": "lead", "1A1": "stabilize"}
    assert warnings(rec)[:2] == ["no_cit_in_district", "cit_from_adjacent_district"]
    assert "2C1, on the call, comes from adjacent district D2" in warning(
        rec, "cit_from_adjacent_district"
    )
    assert "1A1 from D1 stabilises" in reason(rec, "cit_adjacent")
    # One on the call from next door is named by where it comes from.
    visiting = officer("3A1", "D3", status="on_scene", on_call=True)
    rec = run(call("D1", safety=WEAPON), working, visiting, free_here)
    assert roles(rec) == {"2C1": "lead", "3A1": "stabilize"}
    assert "3A1 from D3, on the call, stabilises" in reason(rec, "cit_adjacent")
    # With none on the call, the best free one is named, as on a first recommendation.
    rec = run(call("D1", safety=WEAPON), working, free_here)
    assert roles(rec) == {"2C1": "lead", "1A2": "stabilize"}
    # As back-up to a mental-health lead, too.
    rec = run(call("D1"), working, co_responder("MCT-1", km_north=1))
    assert roles(rec) == {"MCT-1": "lead", "2C1": "backup"}
    assert "cit_from_adjacent_district" in warnings(rec)


def test_cit_officer_on_the_call_from_next_door_is_no_gap_while_one_serves_the_district() -> None:
    working = officer("2C1", "D2", cit=True, status="on_scene", on_call=True)
    rec = run(call("D1", safety=WEAPON), working, officer("1C1", cit=True, km_north=1))
    assert roles(rec)["2C1"] == "lead"
    assert not {"no_cit_in_district", "cit_from_adjacent_district"} & set(warnings(rec))
    assert "cit_adjacent" not in rules(rec)


def test_co_responder_on_the_call_from_next_door_is_warned_only_without_one_serving() -> None:
    working = co_responder("MCT-2", "D2", status="on_scene", on_call=True)
    rec = run(call("D1"), working, officer("1C1", cit=True, km_north=1))
    assert roles(rec)["MCT-2"] == "lead"
    assert "MCT-2, on the call, comes from adjacent district D2" in warning(
        rec, "co_responder_from_adjacent_district"
    )
    rec = run(call("D1"), working, co_responder("MCT-1", km_north=1), officer("1C1", cit=True))
    assert roles(rec)["MCT-2"] == "lead"
    assert "co_responder_from_adjacent_district" not in warnings(rec)


def test_unit_on_the_call_from_beyond_reach_is_named_as_such() -> None:
    """A PATCH may move the call to a district far from the unit working it."""
    working = co_responder("MCT-5", "D5", status="en_route", on_call=True)
    rec = run(call("D1"), working, officer("1C1", cit=True, km_north=1))
    assert roles(rec)["MCT-5"] == "lead"
    assert "MCT-5, on the call, comes from an out-of-reach district D5" in warning(
        rec, "co_responder_from_adjacent_district"
    )


def test_units_on_the_call_from_beyond_reach_are_named_beside_the_free_ones_serving() -> None:
    """A call moved far from the units working it keeps them (rule 0), but the dispatcher
    is told where they come from and who serves the district now, though that is no gap."""
    working = co_responder("MCT-5", "D5", status="en_route", on_call=True)
    backing = officer("5C1", "D5", cit=True, status="en_route", on_call=True)
    free = [co_responder("MCT-1", km_north=1), officer("1C1", cit=True, km_north=1)]
    rec = run(call("D1"), working, backing, *free)
    assert roles(rec) == {"MCT-5": "lead", "5C1": "backup"}
    assert warning(rec, "co_responder_from_adjacent_district") == (
        "Co-responder MCT-5, on the call, comes from an out-of-reach district D5; "
        "MCT-1 serves D1 and is available"
    )
    assert warning(rec, "cit_from_adjacent_district") == (
        "CIT officer 5C1, on the call, comes from an out-of-reach district D5; "
        "1C1 serves D1 and is available"
    )
    assert "no_cit_in_district" not in warnings(rec)
    assert "cit_adjacent" not in rules(rec)
    rec = run(call("D1", safety=WEAPON), working, backing, *free)
    assert roles(rec) == {"5C1": "lead", "MCT-5": "support"}
    assert {"co_responder_from_adjacent_district", "cit_from_adjacent_district"} <= set(
        warnings(rec)
    )
    # With none free serving the district, the gap is told as before.
    rec = run(call("D1", safety=WEAPON), working, backing)
    assert warnings(rec)[:2] == ["no_cit_in_district", "cit_from_adjacent_district"]


def test_the_unit_that_left_is_said_to_be_left_out_and_no_warning_is_changed() -> None:
    """Its re-triage leaves out the lead that just left, free or not: a reason says so,
    so that "none is available" does not read as false beside the board showing it free.
    The warnings are the rules' own, whatever left."""
    backing = officer("1A1", status="on_scene", on_call=True)
    for status in ("available", "out_of_service"):
        gone = LeftUnit("co_responder", uuid4(), "MCT-1", status)
        rec = run(call("D1", left=(gone,)), backing)
        assert roles(rec) == {"1A1": "lead"}
        assert reason(rec, "unit_left") == (
            f"MCT-1 left this call ({status.replace('_', ' ')}) and is not recommended for it again"
        )
        assert rec.warnings == run(call("D1"), backing).warnings
    assert "unit_left" not in rules(run(call("D1"), backing))


def test_a_call_left_without_units_is_warned_of_first() -> None:
    """The last unit on the call went out of service: whatever else is warned of, that
    comes first, and the rules still name whom to send."""
    gone = LeftUnit("co_responder", uuid4(), "MCT-1", "out_of_service")
    rec = run(call("D1", stranded_by=gone), officer("1A1"))
    assert warnings(rec)[0] == "no_unit_on_call"
    assert warning(rec, "no_unit_on_call") == (
        "No unit is on this call: MCT-1, the last on it, went out of service"
    )
    assert "no_cit_available" in warnings(rec)
    assert roles(rec) == {"1A1": "lead"}
    assert "no_unit_on_call" not in warnings(run(call("D1"), officer("1A1")))
    assert "no_unit_on_call" not in CAPACITY_WARNINGS


def test_every_unit_that_left_is_named_once_in_the_order_it_left() -> None:
    """A later re-triage leaves out the leads that left before too, whose status as they
    left is not known to it: each is named, in one reason."""
    backing = officer("1A1", status="on_scene", on_call=True)
    before = LeftUnit("co_responder", uuid4(), "MCT-2")
    rec = run(call("D1", left=(before,)), backing)
    assert reason(rec, "unit_left") == "MCT-2 left this call and is not recommended for it again"
    now = LeftUnit("co_responder", uuid4(), "MCT-1", "out_of_service")
    third = LeftUnit("officer", uuid4(), "1C1")
    rec = run(call("D1", left=(before, third, now)), backing)
    assert reason(rec, "unit_left") == (
        "MCT-2, 1C1 and MCT-1 (out of service) left this call and are not recommended for it again"
    )


def test_a_unit_on_the_call_from_beyond_reach_is_told_of_one_on_it_serving_first() -> None:
    """With a unit serving the district on the call too, that one is named, not a free
    one the dispatcher would have to send."""
    # The one from beyond reach is nearer the call's point now: it leads, by ETA.
    far = officer("5C1", "D5", cit=True, status="en_route", on_call=True, km_north=-1)
    near = officer("1C9", cit=True, status="en_route", on_call=True, km_north=2)
    rec = run(call("D1", safety=WEAPON), far, near, officer("1C2", cit=True, km_north=1))
    assert roles(rec)["5C1"] == "lead"
    assert warning(rec, "cit_from_adjacent_district") == (
        "CIT officer 5C1, on the call, comes from an out-of-reach district D5; "
        "1C9, on the call, serves D1"
    )


def test_a_co_responder_on_a_call_turned_unsafe_is_not_called_the_nearest_available() -> None:
    working = co_responder("MCT-1", status="on_scene", on_call=True)
    rec = run(call("D1", safety=WEAPON), working, co_responder("MCT-2", km_north=1))
    assert rec.units == ()
    assert warning(rec, "no_units_available").endswith(
        "so no co-responder is to work it alone (MCT-1, on the call, needs law enforcement)"
    )
    fresh = run(call("D1", safety=WEAPON), co_responder("MCT-2", km_north=1))
    assert "(MCT-2 is the nearest available)" in warning(fresh, "no_units_available")


# location_outside_district


def test_a_location_outside_the_district_names_where_it_lies() -> None:
    rec = run(call("D1", outside_district=True, located_in="D4"), co_responder("MCT-1"))
    assert roles(rec) == {"MCT-1": "lead"}
    assert "location_outside_district" in warnings(rec)
    assert warning(rec, "location_outside_district").startswith("The location is in D4, not in D1")
    nowhere = run(call("D1", outside_district=True), co_responder("MCT-1"))
    assert "outside every district's boundary" in warning(nowhere, "location_outside_district")
    # How far, and far off, that its coordinates are the likelier mistake.
    near = run(call("D1", outside_district=True, outside_by_km=0.4), co_responder("MCT-1"))
    assert warning(near, "location_outside_district") == (
        "The location is outside every district's boundary, less than 1 km from that of D1,"
        " the district given: units are chosen for D1; check the district"
    )
    far = run(call("D1", outside_by_km=10_950.2, outside_district=True), co_responder("MCT-1"))
    assert warning(far, "location_outside_district") == (
        "The location is outside every district's boundary, 10,950 km from that of D1, the"
        " district given: units are chosen for D1; check the location's coordinates (a sign"
        " or a digit lost?) and the district"
    )
    assert "location_outside_district" not in warnings(run(call("D1"), co_responder("MCT-1")))


def test_a_point_shown_100_km_off_asks_to_check_its_coordinates() -> None:
    """99.6 km was shown as "100 km" and asked only to check the district: the advice is
    for the distance as shown, as docs/routing.md says (100 km or more)."""
    for km, check in ((99.4, "check the district"), (99.6, "check the location's coordinates")):
        rec = run(call("D1", outside_district=True, outside_by_km=km), co_responder("MCT-1"))
        said = warning(rec, "location_outside_district")
        assert f" {round(km)} km from that of D1" in said
        assert said.split("units are chosen for D1; ")[1].startswith(check)


# unknown_nature


@pytest.mark.parametrize("nature", ["welfare check", "MNTLX", "crisis", "ÿ?"])
def test_nature_neither_a_registry_type_nor_a_policy_code_is_warned(nature: str) -> None:
    rec = run(
        call(nature=nature), co_responder("M", km_north=1), officer("1A1", cit=True, km_north=1)
    )
    assert warnings(rec) == ["unknown_nature"]
    assert f"'{nature}'" in warning(rec, "unknown_nature")
    assert rec.lead == "mental_health"


@pytest.mark.parametrize("nature", ["MNTL", " mntl ", "Suicthrt", "EDP", "NONEMERG", "xtricate"])
def test_registry_incident_types_in_any_case_are_known(nature: str) -> None:
    rec = run(call(nature=nature), co_responder("M", km_north=1), officer("1A1", km_north=1))
    assert "unknown_nature" not in warnings(rec)


@pytest.mark.parametrize("nature", [None, "", "   "])
def test_no_nature_is_not_an_unknown_nature(nature: str | None) -> None:
    rec = run(call(nature=nature), co_responder("M", km_north=1), officer("1A1", km_north=1))
    assert "unknown_nature" not in warnings(rec)


def test_a_local_code_named_in_the_policy_is_known() -> None:
    policy = replace(POLICY, nature_flags={"Crisis-Local": frozenset({"violence"})})
    rec = run(call(nature=" CRISIS-local"), officer("1A1", cit=True, km_north=1), policy=policy)
    assert rec.safety_concern
    assert "unknown_nature" not in warnings(rec)


def test_a_local_code_the_agency_takes_from_eido_is_known() -> None:
    policy = replace(POLICY, eido_incident_types=frozenset({"CRISISLOC"}))
    rec = run(call(nature="crisisloc"), co_responder("M", km_north=1), policy=policy)
    assert "unknown_nature" not in warnings(rec)
    assert "unknown_nature" in warnings(run(call(nature="crisisloc"), co_responder("M")))


# Capacity: what the outcome report counts.


def test_capacity_warnings_are_the_gaps_in_units_not_in_the_data_sent() -> None:
    assert {"co_responder_from_adjacent_district", "no_youth_specialist"} <= set(CAPACITY_WARNINGS)
    assert not {"eta_unknown", "unknown_nature"} & set(CAPACITY_WARNINGS)
