"""The `rank` rule, reach over adjacency, eligibility and certification dates
(docs/routing.md, "Ranking", "Serving and adjacency", "Eligibility", "CIT certification")."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.routing import haversine_km
from app.routing.types import CertificationPeriod, GeoPoint
from tests.routing.builders import (
    NOW,
    POLICY,
    TODAY,
    WEAPON,
    call,
    certified_on_day,
    co_responder,
    expired,
    not_yet_valid,
    officer,
    reason,
    roles,
    rules,
    run,
    warnings,
)

YOUTH = frozenset({"youth"})


def test_haversine_gives_one_degree_of_latitude_and_is_symmetric() -> None:
    a, b = GeoPoint(40.0, -111.9), GeoPoint(41.0, -111.9)
    assert haversine_km(a, b) == pytest.approx(6371.0088 * math.pi / 180, rel=1e-9)
    assert haversine_km(b, a) == pytest.approx(haversine_km(a, b))
    assert haversine_km(a, a) == 0.0
    # Salt Lake City to Denver, about 600 km.
    assert haversine_km(GeoPoint(40.7608, -111.8910), GeoPoint(39.7392, -104.9903)) == (
        pytest.approx(595.8, abs=1.0)
    )


def test_haversine_of_antipodal_points_is_half_the_circumference() -> None:
    a, b = (
        GeoPoint(-6.377647337239125, -146.93007968748378),
        GeoPoint(6.377647337239125, 33.06992031251622),
    )
    assert haversine_km(a, b) == pytest.approx(math.pi * 6371.0088)


# rank


def test_a_unit_on_the_call_ranks_first_of_its_kind_whatever_its_roster_says() -> None:
    """A dispatched call's re-triage: the units on it serve it, busy, off shift or from
    beyond reach, and rank before free units like them, however close those are."""
    free = co_responder("MCT-F", km_north=0.1)
    working = [
        co_responder("MCT-W", "D5", km_north=30, status="en_route", on_call=True),
        co_responder("MCT-W", on_shift=False, status="on_scene", on_call=True),
    ]
    for on_call in working:
        rec = run(call(), free, on_call)
        assert roles(rec) == {"MCT-W": "lead"}
        # Not on the call, the same unit is not eligible at all.
        assert roles(run(call(), free, replace(on_call, on_call=False))) == {"MCT-F": "lead"}
    # It does not stand in for a kind the rules want: a weapon needs a CIT officer to lead.
    plain = officer("1A-W", status="on_scene", on_call=True)
    rec = run(call(safety=WEAPON), plain, officer("1C-F", cit=True, km_north=5))
    assert roles(rec)["1C-F"] == "lead"
    # A deactivated unit is no candidate, on the call or not.
    assert roles(run(call(), free, replace(working[0], active=False))) == {"MCT-F": "lead"}


def test_a_unit_on_the_calls_scene_is_there_whatever_it_last_reported() -> None:
    """A re-triage showed a co-responder on the call's scene with an ETA of minutes, from
    the position it last sent on its way (the 3 a.m. check): on the scene of this call it
    has no travel left, ETA 0, and leads before one of its kind still on its way."""
    on_scene = co_responder("MCT-S", km_north=3, status="on_scene", on_call=True)
    unplaced = replace(on_scene, location=None)
    coming = co_responder("MCT-C", km_north=1, status="en_route", on_call=True)
    for there in (on_scene, unplaced):
        rec = run(call(), coming, there)
        assert roles(rec) == {"MCT-S": "lead"}
        (lead,) = rec.units
        assert (lead.eta_minutes, lead.distance_km) == (0.0, 0.0)
        assert "eta_unknown" not in warnings(rec)
    # On its way, or on the scene of no call of this one, it travels as before.
    (lead,) = run(call(), coming).units
    assert lead.eta_minutes == pytest.approx(1.5, abs=0.05)
    (free,) = run(call(), replace(on_scene, on_call=False, status="available")).units
    assert free.eta_minutes == pytest.approx(4.5, abs=0.05)


def test_an_officer_on_the_call_is_not_swapped_for_a_better_trained_free_one() -> None:
    """With no CIT officer in reach the best-trained officer leads (no_cit), but on a
    re-triage the one already working the call keeps the part."""
    working = officer("1A-W", status="on_scene", on_call=True)
    trained = officer("1A-T", trainings=frozenset({"de_escalation"}), km_north=1)
    assert roles(run(call(safety=WEAPON), working, trained)) == {"1A-W": "lead"}
    assert roles(
        run(call(safety=WEAPON), replace(working, on_call=False, status="available"), trained)
    ) == {"1A-T": "lead"}


def test_serving_co_responder_leads_before_a_closer_adjacent_one() -> None:
    rec = run(call(), co_responder("MCT-A", "D2", km_north=0.1), co_responder("MCT-S", km_north=9))
    assert [(u.call_sign, u.role) for u in rec.units] == [("MCT-S", "lead")]
    assert "rank" in rules(rec)


def test_nearer_unit_ranks_first_then_fewer_assignments_then_call_sign() -> None:
    flagged = call(safety=WEAPON)
    near, far = officer("1A2", cit=True, km_north=1), officer("1A1", cit=True, km_north=2)
    assert roles(run(flagged, far, near)) == {"1A2": "lead"}

    busy = officer("1A1", cit=True, km_north=1, assignments_24h=3)
    rested = officer("1A2", cit=True, km_north=1, assignments_24h=0)
    assert roles(run(flagged, busy, rested)) == {"1A2": "lead"}

    a, b = officer("1A1", cit=True, km_north=1), officer("1A2", cit=True, km_north=1)
    assert roles(run(flagged, b, a)) == {"1A1": "lead"}


def test_unit_with_unknown_location_ranks_after_every_located_one_in_its_ring() -> None:
    unknown = officer("1A0", cit=True, km_north=None)
    located_far = officer("1A9", cit=True, km_north=15)
    assert roles(run(call(safety=WEAPON), unknown, located_far)) == {"1A9": "lead"}


def test_serving_unit_with_unknown_location_still_beats_located_adjacent_one() -> None:
    rec = run(call(), co_responder("MCT-S", km_north=None), co_responder("MCT-A", "D2", km_north=1))
    assert roles(rec)["MCT-S"] == "lead"
    assert rec.units[0].distance_km is None
    assert rec.units[0].eta_minutes is None


def test_call_without_location_ranks_by_workload_and_reports_no_distance() -> None:
    rec = run(
        call(location=None),
        co_responder("MCT-1", km_north=0.1, assignments_24h=2),
        co_responder("MCT-2", km_north=9, assignments_24h=0),
    )
    assert roles(rec) == {"MCT-2": "lead"}
    assert rec.units[0].distance_km is None
    assert rec.units[0].eta_minutes is None


def test_distance_and_eta_use_policy_speed_and_are_rounded_to_one_decimal() -> None:
    rec = run(call(), co_responder("M", km_north=10.04), policy=replace(POLICY, speed_kmh=60))
    assert rec.units[0].distance_km == 10.0
    assert rec.units[0].eta_minutes == 10.0
    slow = run(call(), co_responder("M", km_north=3), policy=replace(POLICY, speed_kmh=7))
    assert slow.units[0].eta_minutes == round(3 / 7 * 60, 1) == 25.7


@pytest.mark.parametrize("speed", [0.0, -5.0, math.inf, math.nan])
def test_unusable_speed_gives_no_eta_but_still_ranks_by_distance(speed: float) -> None:
    rec = run(
        call(),
        co_responder("MCT-9", km_north=9),
        co_responder("MCT-1", km_north=1),
        policy=replace(POLICY, speed_kmh=speed),
    )
    assert roles(rec) == {"MCT-1": "lead"}
    assert rec.units[0].eta_minutes is None
    assert rec.units[0].distance_km == 1.0


@pytest.mark.parametrize(
    "bad", [GeoPoint(math.nan, 0.0), GeoPoint(0.0, math.inf), GeoPoint(91.0, 0.0)]
)
def test_invalid_coordinates_count_as_unknown_location(bad: GeoPoint) -> None:
    rec = run(
        call(),
        co_responder("MCT-B", location=bad),
        co_responder("MCT-Z", km_north=20),
    )
    assert [u.call_sign for u in rec.units] == ["MCT-Z"]
    unknown_call = run(call(location=bad), co_responder("M", km_north=1))
    assert unknown_call.units[0].distance_km is None


# youth


def test_youth_specialist_leads_for_a_minor_even_if_farther_but_not_for_an_adult() -> None:
    near = co_responder("MCT-1", km_north=0.5)
    youth = co_responder("MCT-Y", specialties=YOUTH, km_north=8)
    adult = run(call(subject_age=30), near, youth)
    minor = run(call(subject_age=15), near, youth)
    assert roles(adult)["MCT-1"] == "lead"
    assert "youth_specialty" not in rules(adult)
    assert roles(minor)["MCT-Y"] == "lead"
    assert reason(minor, "youth_specialty") == (
        "The subject is 15: youth specialist MCT-Y ranks first among the co-responders "
        "serving the district, ahead of MCT-1, nearer (ETA 0.8 min against 12.0)"
    )
    # Nearer itself, it passes over nobody.
    assert reason(
        run(call(subject_age=15), youth, co_responder("MCT-9", km_north=9)), "youth_specialty"
    ).endswith("serving the district")
    only_youth_for_adult = run(call(subject_age=30), youth)
    assert roles(only_youth_for_adult) == {"MCT-Y": "lead"}
    assert "youth_specialty" not in rules(only_youth_for_adult)


def test_youth_specialty_names_only_a_free_serving_co_responder_nearer_by_the_etas_shown() -> None:
    """The youth reason named a co-responder working the call from another district (a
    re-triage) as "the nearer co-responder serving the district" passed over, and one
    nearer by 0.03 min as "nearer (ETA 3.0 min against 3.0)"."""
    youth = co_responder("MCT-Y", specialties=YOUTH, km_north=8, on_call=True, status="en_route")
    for district in ("D2", "D5"):  # next door, and beyond reach
        working = co_responder("MCT-W", district, km_north=0.5, on_call=True, status="on_scene")
        rec = run(call(subject_age=15), working, youth)
        assert roles(rec) == {"MCT-Y": "lead"}
        assert reason(rec, "youth_specialty").endswith("serving the district")
    # A free one serving the district is passed over, and named, whatever the youth's call.
    free = co_responder("MCT-F", km_north=0.5)
    assert reason(run(call(subject_age=15), free, youth), "youth_specialty").endswith(
        ", ahead of MCT-F, nearer (ETA 0.8 min against 12.0)"
    )
    # 2.0 and 2.02 km at 40 km/h: 3.0 and 3.03 min, both shown as 3.0.
    tied = run(
        call(subject_age=15),
        co_responder("MCT-1", km_north=2.0),
        co_responder("MCT-Y", specialties=YOUTH, km_north=2.02),
    )
    assert [u.eta_minutes for u in tied.units] == [3.0]
    assert reason(tied, "youth_specialty").endswith("serving the district")


def test_a_youth_specialist_on_the_call_from_another_district_is_not_said_to_serve_it() -> None:
    """A re-triage said a youth specialist working the call from D3 "ranks first among the
    co-responders serving the district", beside the warning that it comes from an
    out-of-reach district D3 (the 3 a.m. check): it is said to be on the call."""
    for district in ("D2", "D5"):  # next door, and beyond reach
        youth = co_responder(
            "MCT-Y", district, specialties=YOUTH, km_north=8, on_call=True, status="en_route"
        )
        rec = run(call(subject_age=12), youth, co_responder("MCT-1", km_north=1))
        assert roles(rec) == {"MCT-Y": "lead"}
        assert reason(rec, "youth_specialty") == (
            "The subject is 12: youth specialist MCT-Y is on the call already"
        )
        assert "no_youth_specialist" not in warnings(rec)
    serving = co_responder("MCT-Y", specialties=YOUTH, km_north=8, on_call=True, status="en_route")
    rec = run(call(subject_age=12), serving, co_responder("MCT-1", km_north=1))
    assert "serving the district" in reason(rec, "youth_specialty")


def test_eighteen_year_old_is_not_a_minor() -> None:
    rec = run(
        call(subject_age=18),
        co_responder("MCT-1", km_north=0.5),
        co_responder("MCT-Y", specialties=YOUTH, km_north=8),
    )
    assert roles(rec)["MCT-1"] == "lead"


def test_youth_specialist_from_adjacent_district_does_not_outrank_serving_one() -> None:
    rec = run(
        call(subject_age=12),
        co_responder("MCT-1", "D1"),
        co_responder("MCT-Y", "D2", specialties=YOUTH),
    )
    assert roles(rec)["MCT-1"] == "lead"
    assert "youth_specialty" not in rules(rec)


def test_youth_specialist_next_door_does_not_outrank_a_closer_co_responder_next_door() -> None:
    # No co-responder serves D1: among those next door, ETA ranks; youth counts only
    # among the co-responders serving the call's own district.
    rec = run(
        call(subject_age=12),
        co_responder("MCT-2", "D2", km_north=1),
        co_responder("MCT-Y", "D2", specialties=YOUTH, km_north=8),
    )
    assert roles(rec)["MCT-2"] == "lead"
    assert "MCT-Y" not in roles(rec)
    assert "youth_specialty" not in rules(rec)


def test_youth_specialist_supports_a_minor_under_a_safety_concern() -> None:
    rec = run(
        call(subject_age=16, safety=WEAPON),
        officer("1A1", cit=True),
        co_responder("MCT-1", km_north=0.5),
        co_responder("MCT-Y", specialties=YOUTH, km_north=8),
    )
    assert roles(rec) == {"1A1": "lead", "MCT-Y": "support"}
    assert "youth_specialty" in rules(rec)


def test_youth_specialty_of_an_officer_does_not_change_who_leads() -> None:
    rec = run(
        call(subject_age=10, safety=WEAPON),
        officer("1A1", cit=True, km_north=1),
        officer("1A9", cit=True, km_north=9, specialties=YOUTH),
    )
    assert roles(rec) == {"1A1": "lead"}


# reach


def test_also_covers_makes_a_unit_serve_the_district() -> None:
    covering = co_responder("MCT-C", "D5", also_covers=frozenset({"D1"}), km_north=9)
    adjacent = co_responder("MCT-2", "D2", km_north=0.1)
    assert roles(run(call(), covering, adjacent))["MCT-C"] == "lead"


def test_also_covers_does_not_extend_adjacency() -> None:
    # D9 is nowhere on the grid; covering D2 does not make the unit adjacent to D1.
    rec = run(
        call("D1", safety=WEAPON), officer("9A1", "D9", cit=True, also_covers=frozenset({"D2"}))
    )
    assert rec.units == ()


def test_adjacency_depth_limits_reach() -> None:
    far_cit = officer("5A1", "D5", cit=True)  # D5 is two hops from D2
    flagged = call("D2", safety=WEAPON)
    assert run(flagged, far_cit).units == ()
    assert roles(run(flagged, far_cit, policy=replace(POLICY, adjacency_depth=2))) == {
        "5A1": "lead"
    }


def test_depth_zero_or_no_adjacency_reaches_only_serving_units() -> None:
    adjacent_cit = officer("2A1", "D2", cit=True)
    serving = officer("1A1")
    depth_zero = run(
        call(safety=WEAPON), adjacent_cit, serving, policy=replace(POLICY, adjacency_depth=0)
    )
    no_map = run(call(safety=WEAPON), adjacent_cit, serving, adjacency=None)
    for rec in (depth_zero, no_map):
        assert roles(rec) == {"1A1": "lead"}
        assert "no_cit_available" in warnings(rec)


def test_responder_listed_twice_is_recommended_once_at_its_nearer_shift() -> None:
    adjacent = officer("2A1", "D2", cit=True)
    also_serving = replace(adjacent, also_covers=frozenset({"D1"}))
    rec = run(call(safety=WEAPON), adjacent, also_serving, co_responder("M"))
    assert [u.call_sign for u in rec.units] == ["2A1", "M"]
    assert "cit_adjacent" not in rules(rec)


# eligibility and certification


def test_shift_covers_its_start_but_not_its_end() -> None:
    starting = officer("1A1", cit=True, shift_starts_at=NOW, shift_ends_at=NOW + timedelta(hours=8))
    ending = officer("1A2", cit=True, shift_starts_at=NOW - timedelta(hours=8), shift_ends_at=NOW)
    assert roles(run(call(safety=WEAPON), starting, ending)) == {"1A1": "lead"}


def test_shift_times_in_another_zone_compare_as_instants() -> None:
    utc = ZoneInfo("UTC")
    ends_in_utc = officer(
        "1A1",
        cit=True,
        shift_starts_at=(NOW - timedelta(hours=1)).astimezone(utc),
        shift_ends_at=(NOW + timedelta(minutes=1)).astimezone(utc),
    )
    assert roles(run(call(safety=WEAPON), ends_in_utc)) == {"1A1": "lead"}


def test_expired_or_future_certification_does_not_count_as_cit() -> None:
    rec = run(
        call(safety=WEAPON),
        officer("1A1", certifications=(expired(),), km_north=0.1),
        officer("1A2", certifications=(not_yet_valid(), expired(days_ago=0)), km_north=0.2),
    )
    assert "no_cit_available" in warnings(rec)
    assert [(u.call_sign, u.cit_certified) for u in rec.units] == [("1A1", False)]


def test_certification_is_valid_from_its_first_day_until_the_day_before_expiry() -> None:
    first_day = officer("1A1", certifications=(certified_on_day(TODAY),), km_north=5)
    expires_today = officer(
        "1A2", certifications=(certified_on_day(TODAY - timedelta(days=365)),), km_north=0.1
    )
    rec = run(call(safety=WEAPON), expires_today, first_day)
    assert roles(rec) == {"1A1": "lead"}
    assert rec.units[0].cit_certified


def test_certification_dates_are_the_agencys_calendar_not_utc() -> None:
    late_evening = datetime(2026, 11, 23, 22, 30, tzinfo=ZoneInfo("America/Denver"))
    utc_tomorrow = late_evening.astimezone(ZoneInfo("UTC")).date()
    assert utc_tomorrow > late_evening.date()
    starts, ends = late_evening - timedelta(hours=1), late_evening + timedelta(hours=1)
    starts_utc_tomorrow = officer(
        "1A1",
        certifications=(CertificationPeriod(utc_tomorrow, utc_tomorrow + timedelta(days=365)),),
        shift_starts_at=starts,
        shift_ends_at=ends,
    )
    ends_utc_tomorrow = officer(
        "1A2",
        certifications=(CertificationPeriod(utc_tomorrow - timedelta(days=365), utc_tomorrow),),
        shift_starts_at=starts,
        shift_ends_at=ends,
    )
    rec = run(call(safety=WEAPON), starts_utc_tomorrow, ends_utc_tomorrow, now=late_evening)
    assert [(u.call_sign, u.cit_certified) for u in rec.units] == [("1A2", True)]


def test_co_responder_is_never_cit_even_with_a_certification_on_record() -> None:
    rec = run(call(), co_responder("M", certifications=(certified_on_day(TODAY),)))
    assert rec.units[0].cit_certified is False
