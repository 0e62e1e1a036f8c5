"""GET /v1/reports/outcomes against an independent count from the raw lists: the calls,
each call's dispatches, assignments and recommendation history, and the certifications."""

from __future__ import annotations

import csv
import io
import math
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from app.vocabulary import CAPACITY_WARNINGS, OUTCOMES, OVERRIDE_CODES
from tests.helpers import Api, add_co_responder, add_officer, all_items, grid_districts

DENVER = ZoneInfo("America/Denver")
MH_PLACES = {"crisis_center", "mh_outpatient", "hospital", "detox"}


def _ago(minutes: float) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()


async def _calls(api: Api) -> dict[str, str]:
    """Calls that take every path a report counts; returns their ids by name."""
    await grid_districts(api)
    co = await add_co_responder(api, district="D1", call_sign="MCT1")
    cit_d1 = await add_officer(api, district="D1", call_sign="1A11", cit=True)
    await add_officer(api, district="D2", call_sign="2A11", cit=True)
    plain = await add_officer(api, district="D4", call_sign="4A11")
    ids: dict[str, str] = {}

    async def call(name: str, body: dict[str, Any]) -> str:
        ids[name] = (await api.ok("POST", "/v1/calls", body, 201))["id"]
        return ids[name]

    # Mental health leads as recommended, reaches the scene, person referred.
    c = await call("followed", {"district": "D1", "nature": "MNTL", "received_at": _ago(12)})
    await api.ok("POST", f"/v1/calls/{c}/dispatch")
    await api.ok("PUT", f"/v1/co-responders/{co}/status", {"status": "on_scene"})
    await api.ok(
        "POST",
        f"/v1/calls/{c}/clear",
        {"disposition": "referred", "outcome": "referred", "diverted_to": "crisis_center"},
    )
    # Mental health recommended, police sent at the caller's request; an arrest.
    c = await call("overridden", {"district": "D1", "nature": "MNTL", "received_at": _ago(30)})
    await api.ok(
        "POST",
        f"/v1/calls/{c}/dispatch",
        {
            "units": [{"responder_type": "officer", "responder_id": cit_d1, "role": "lead"}],
            "override_code": "caller_request",
        },
    )
    await api.ok("PUT", f"/v1/officers/{cit_d1}/status", {"status": "on_scene"})
    await api.ok(
        "POST",
        f"/v1/calls/{c}/clear",
        {"disposition": "arrest", "outcome": "arrest", "use_of_force": True},
    )
    # A weapon: law enforcement leads; jail, an officer hurt.
    c = await call("weapon", {"district": "D2", "safety": {"weapon": True}, "received_at": _ago(3)})
    await api.ok("POST", f"/v1/calls/{c}/dispatch")
    await api.ok(
        "POST",
        f"/v1/calls/{c}/clear",
        {"disposition": "booked", "diverted_to": "jail", "officer_injured": True},
    )
    # No co-responder in reach of D4: a capacity warning; never dispatched.
    await call("waiting", {"district": "D4", "nature": "MNTL", "received_at": _ago(5)})
    # Cleared without dispatch and without an outcome (an older client).
    c = await call("unrecorded", {"district": "D2", "nature": "MNTL"})
    await api.ok("POST", f"/v1/calls/{c}/clear", {"disposition": "caller called back"})
    # The first dispatch sent no unit as lead.
    c = await call("backup_only", {"district": "D4", "nature": "MNTL", "received_at": _ago(1)})
    await api.ok(
        "POST",
        f"/v1/calls/{c}/dispatch",
        {
            "units": [{"responder_type": "officer", "responder_id": plain, "role": "backup"}],
            "override_reason": "check on the caller first",
        },
    )
    # Received before the default range.
    await call("old", {"district": "D1", "received_at": _ago(60 * 24 * 40)})
    return ids


def _percentile(values: list[float], p: float) -> float | None:
    """Linear interpolation between closest ranks (PostgreSQL's percentile_cont)."""
    if not values:
        return None
    ordered = sorted(values)
    at = p * (len(ordered) - 1)
    low, high = math.floor(at), math.ceil(at)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (at - low), 1)


async def _facts(api: Api, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Each call received in [start, end), with what the report needs, from the API."""
    officers = {o["id"]: o for o in await all_items(api, "/v1/officers")}
    certs = await all_items(api, "/v1/certifications")
    facts = []
    for listed in await all_items(api, "/v1/calls"):
        received = datetime.fromisoformat(listed["received_at"])
        if not start <= received < end:
            continue
        call = await api.ok("GET", f"/v1/calls/{listed['id']}")
        recs = await all_items(api, f"/v1/calls/{call['id']}/recommendations")
        first = call["dispatches"][0] if call["dispatches"] else None
        first_at = None if first is None else datetime.fromisoformat(first["at"])
        # The recommendation the first dispatch names (made on); never dispatched, the latest.
        rec = (
            next(r for r in recs if r["id"] == first["recommendation_id"])
            if first is not None
            else max(recs, key=lambda r: (r["created_at"], r["id"]))
        )

        def cit_when(assignment: dict[str, Any]) -> bool:
            o = officers[assignment["responder_id"]]
            day = datetime.fromisoformat(assignment["assigned_at"]).astimezone(DENVER).date()
            return any(
                c["state_officer_id"] == o["state_officer_id"]
                and date.fromisoformat(c["certified_on"])
                <= day
                < date.fromisoformat(c["expires_on"])
                for c in certs
            )

        on_scene = [a["on_scene_at"] for a in call["assignments"] if a["on_scene_at"]]
        facts.append(
            {
                "call": call,
                "received": received,
                "first": first,
                "first_at": first_at,
                "lead": rec["lead"],
                "warnings": {w["code"] for w in rec["warnings"]},
                "cit_lead": any(
                    u["role"] == "lead" and u["responder_type"] == "officer" and u["cit_certified"]
                    for u in rec["units"]
                ),
                "cit_when": cit_when,
                "rec_units": rec["units"],
                "with_cit": any(
                    a["responder_type"] == "officer" and cit_when(a) for a in call["assignments"]
                ),
                "with_co": any(a["responder_type"] == "co_responder" for a in call["assignments"]),
                "on_scene": min(datetime.fromisoformat(t) for t in on_scene) if on_scene else None,
            }
        )
    return facts


def _group(key: str | None, facts: list[dict[str, Any]]) -> dict[str, Any]:
    calls = [f["call"] for f in facts]
    cleared = [c for c in calls if c["status"] == "cleared"]

    def sent(f: dict[str, Any]) -> str:
        if f["first"] is None:
            return "not_dispatched"
        return f["first"]["dispatched_lead"] or "no_lead_sent"

    def police_only(f: dict[str, Any]) -> bool:
        """The first dispatch sent no unit as lead, and no co-responder (its units are the
        assignments made at its moment)."""
        units = [a for a in f["call"]["assignments"] if a["assigned_at"] == f["first"]["at"]]
        assert units, f"no assignment made at the first dispatch of {f['call']['id']}"
        return all(a["responder_type"] == "officer" for a in units)

    not_followed = [
        f
        for f in facts
        if f["lead"] == "mental_health"
        and (sent(f) == "law_enforcement" or (sent(f) == "no_lead_sent" and police_only(f)))
    ]

    def cit_lead_sent(f: dict[str, Any]) -> bool:
        """The first dispatch sent an officer to lead who was CIT-certified when sent, or
        whom the recommendation named as certified."""
        named = {u["responder_id"] for u in f["rec_units"] if u["cit_certified"]}
        return any(
            a["assigned_at"] == f["first"]["at"]
            and a["role"] == "lead"
            and a["responder_type"] == "officer"
            and (f["cit_when"](a) or a["responder_id"] in named)
            for a in f["call"]["assignments"]
        )

    cit_not_followed = [
        f for f in facts if f["first"] is not None and f["cit_lead"] and not cit_lead_sent(f)
    ]
    to_dispatch = [
        (f["first_at"] - f["received"]).total_seconds() / 60 for f in facts if f["first_at"]
    ]
    to_scene = [
        (f["on_scene"] - f["first_at"]).total_seconds() / 60
        for f in facts
        if f["first_at"] and f["on_scene"]
    ]
    return {
        "key": key,
        "calls": len(calls),
        "cleared": len(cleared),
        "lead_recommended": {
            lead: sum(f["lead"] == lead for f in facts)
            for lead in ("mental_health", "law_enforcement")
        },
        "lead_dispatched": {
            s: sum(sent(f) == s for f in facts)
            for s in ("mental_health", "law_enforcement", "no_lead_sent", "not_dispatched")
        },
        "mh_lead_not_followed": {
            "total": len(not_followed),
            "by_override_code": {
                code: sum((f["first"]["override_code"] or "other") == code for f in not_followed)
                for code in OVERRIDE_CODES
            },
        },
        "cit_lead_not_followed": {
            "total": len(cit_not_followed),
            "by_override_code": {
                code: sum(
                    (f["first"]["override_code"] or "other") == code for f in cit_not_followed
                )
                for code in OVERRIDE_CODES
            },
        },
        "capacity_warnings": {
            code: sum(code in f["warnings"] for f in facts) for code in CAPACITY_WARNINGS
        },
        "with_cit_officer": sum(f["with_cit"] for f in facts),
        "with_co_responder": sum(f["with_co"] for f in facts),
        "outcomes": {
            **{code: sum(c["outcome"] == code for c in cleared) for code in OUTCOMES},
            "unrecorded": sum(c["outcome"] is None for c in cleared),
        },
        "diverted_to_mh_services": sum(
            c["diverted_to"] in MH_PLACES or c["outcome"] == "referred" for c in calls
        ),
        "justice_involved": sum(
            c["outcome"] in ("arrest", "citation") or c["diverted_to"] == "jail" for c in calls
        ),
        "use_of_force": sum(c["use_of_force"] for c in calls),
        "subject_injured": sum(c["subject_injured"] for c in calls),
        "officer_injured": sum(c["officer_injured"] for c in calls),
        "minutes_to_dispatch": {
            "p50": _percentile(to_dispatch, 0.5),
            "p90": _percentile(to_dispatch, 0.9),
        },
        "minutes_to_on_scene": {
            "p50": _percentile(to_scene, 0.5),
            "p90": _percentile(to_scene, 0.9),
        },
    }


async def _expected(
    api: Api, report: dict[str, Any], district: str | None = None
) -> list[dict[str, Any]]:
    start, end = datetime.fromisoformat(report["from"]), datetime.fromisoformat(report["to"])
    facts = [
        f
        for f in await _facts(api, start, end)
        if district is None or f["call"]["district"] == district
    ]

    def key(f: dict[str, Any]) -> str | None:
        keys: dict[str, str | None] = {
            "none": None,
            "district": f["call"]["district"],
            "lead": f["lead"],
            "month": f["received"].astimezone(DENVER).strftime("%Y-%m"),
        }
        return keys[report["group_by"]]

    # Every key of the grouping, zeros included, worked out here: every district (or the
    # one asked for), both leads, every local month the range reaches.
    codes = [district] if district else [d["code"] for d in await all_items(api, "/v1/districts")]
    months: list[str | None] = []
    day = start.astimezone(DENVER).date().replace(day=1)
    while day <= (end - timedelta(microseconds=1)).astimezone(DENVER).date():
        months.append(day.strftime("%Y-%m"))
        day = (day + timedelta(days=32)).replace(day=1)
    every: dict[str, list[str | None]] = {
        "none": [None],
        "district": sorted(codes),
        "lead": ["mental_health", "law_enforcement"],
        "month": months,
    }
    keys = every[report["group_by"]]
    assert [g["key"] for g in report["groups"]] == keys
    assert {key(f) for f in facts} <= set(keys)
    return [_group(k, [f for f in facts if key(f) == k]) for k in keys]


@pytest.mark.parametrize("group_by", ["none", "district", "lead", "month"])
async def test_every_figure_matches_an_independent_count(admin: Api, group_by: str) -> None:
    await _calls(admin)
    report = await admin.ok("GET", f"/v1/reports/outcomes?group_by={group_by}")
    assert report["group_by"] == group_by
    assert report["groups"] == await _expected(admin, report)


async def test_the_figures_say_what_happened(admin: Api) -> None:
    """The same report, read as a council would: each figure names the calls behind it."""
    await _calls(admin)
    [g] = (await admin.ok("GET", "/v1/reports/outcomes"))["groups"]
    assert g["calls"] == 6  # the old call is outside the last 30 days
    assert g["cleared"] == 4
    assert g["lead_dispatched"] == {
        "mental_health": 1,
        "law_enforcement": 2,
        "no_lead_sent": 1,
        "not_dispatched": 2,
    }
    assert g["mh_lead_not_followed"]["total"] == 1
    assert g["mh_lead_not_followed"]["by_override_code"]["caller_request"] == 1
    assert g["capacity_warnings"]["no_co_responder_available"] == 2  # both D4 calls
    assert g["outcomes"]["referred"] == g["outcomes"]["arrest"] == 1
    assert g["outcomes"]["unrecorded"] == 2
    assert g["diverted_to_mh_services"] == 1
    assert g["justice_involved"] == 2  # the arrest, and jail
    assert (g["use_of_force"], g["officer_injured"]) == (1, 1)
    # MCT1 led the first call and supported the weapon call from next door.
    assert g["with_co_responder"] == 2
    assert g["minutes_to_on_scene"]["p50"] is not None


async def test_the_lead_recommended_is_the_one_the_dispatch_was_made_on_whatever_the_clocks(
    admin: Api, db: asyncpg.Connection
) -> None:
    """Re-triaged to a police lead (a weapon reported), then dispatched so: the dispatch was
    made on the police-lead recommendation. Written by an instance whose clock runs a minute
    behind the one that re-triaged, the dispatch seems older than that recommendation, but
    it is not a mental-health lead not followed."""
    await grid_districts(admin)
    await add_co_responder(admin, district="D1", call_sign="MCT1")
    await add_officer(admin, district="D1", call_sign="1A11", cit=True)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "nature": "MNTL"}, 201)
    assert call["recommendation"]["lead"] == "mental_health"
    armed = await admin.ok("PATCH", f"/v1/calls/{call['id']}", {"safety": {"weapon": True}})
    assert armed["recommendation"]["lead"] == "law_enforcement"
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    behind = "(SELECT max(created_at) FROM recommendation) - interval '1 minute'"
    await db.execute(f"UPDATE dispatch SET at = {behind}")  # noqa: S608
    [g] = (await admin.ok("GET", "/v1/reports/outcomes"))["groups"]
    assert g["lead_recommended"] == {"mental_health": 0, "law_enforcement": 1}
    assert g["lead_dispatched"]["law_enforcement"] == 1
    assert g["mh_lead_not_followed"]["total"] == 0


async def test_police_sent_only_as_backup_for_a_mental_health_lead_is_not_followed(
    admin: Api,
) -> None:
    """Mental health recommended to lead, and only an officer sent, as backup: the call
    was counted `no_lead_sent` and left out of `mh_lead_not_followed`, with its reason (the
    council's outside-in check). A co-responder sent alone, in support, did go: not
    counted."""
    await grid_districts(admin)
    co = await add_co_responder(admin, district="D1", call_sign="MCT1")
    officer = await add_officer(admin, district="D1", call_sign="1A11", cit=True)
    sent = {"officer": (officer, "backup"), "co_responder": (co, "support")}
    for kind, code in (("officer", "unit_busy_in_field"), ("co_responder", "caller_request")):
        call = await admin.ok("POST", "/v1/calls", {"district": "D1", "nature": "MNTL"}, 201)
        assert call["recommendation"]["lead"] == "mental_health"
        responder, role = sent[kind]
        unit = {"responder_type": kind, "responder_id": responder, "role": role}
        body = {"units": [unit], "override_code": code}
        await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch", body)
    report = await admin.ok("GET", "/v1/reports/outcomes")
    [g] = report["groups"]
    assert g["lead_dispatched"]["no_lead_sent"] == 2
    assert g["mh_lead_not_followed"]["total"] == 1
    assert g["mh_lead_not_followed"]["by_override_code"]["unit_busy_in_field"] == 1
    assert report["groups"] == await _expected(admin, report)


async def test_a_cit_officer_recommended_to_lead_and_not_sent_is_counted_with_its_reason(
    admin: Api,
) -> None:
    """A weapon call: the CIT officer recommended to lead, and another officer sent (or a
    co-responder sent to lead): found in no report, only in each call's dispatches (the
    council's outside-in check). Sent as recommended, not counted."""
    await grid_districts(admin)
    co = await add_co_responder(admin, district="D1", call_sign="MCT1")
    plain = await add_officer(admin, district="D1", call_sign="1A12")
    await add_officer(admin, district="D1", call_sign="1A11", cit=True)
    armed = {"district": "D1", "safety": {"weapon": True}}
    sent: list[tuple[str, str, str] | None] = [
        ("officer", plain, "closer_unit"),
        ("co_responder", co, "supervisor_decision"),
        None,  # the recommendation's units, the CIT officer leading
    ]
    for choice in sent:
        call = await admin.ok("POST", "/v1/calls", armed, 201)
        [lead] = [u for u in call["recommendation"]["units"] if u["role"] == "lead"]
        assert (lead["call_sign"], lead["cit_certified"]) == ("1A11", True)
        body: dict[str, Any] = {}
        if choice is not None:
            kind, responder, code = choice
            unit = {"responder_type": kind, "responder_id": responder, "role": "lead"}
            body = {"units": [unit], "override_code": code}
        await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch", body)
        # Each its own call: the units come back for the next.
        await admin.ok("POST", f"/v1/calls/{call['id']}/clear", {"disposition": "done"})
    report = await admin.ok("GET", "/v1/reports/outcomes")
    [g] = report["groups"]
    assert g["cit_lead_not_followed"]["total"] == 2
    by_code = g["cit_lead_not_followed"]["by_override_code"]
    assert (by_code["closer_unit"], by_code["supervisor_decision"]) == (1, 1)
    for group_by in ("none", "district", "lead", "month"):
        report = await admin.ok("GET", f"/v1/reports/outcomes?group_by={group_by}")
        assert report["groups"] == await _expected(admin, report), group_by


async def test_a_cit_lead_sent_as_recommended_stays_followed_when_its_certification_is_voided(
    admin: Api,
) -> None:
    """The recommendation read the certification then, the report as it reads now: a
    dispatch exactly as recommended counted as not followed, under `other` (review r6)."""
    await grid_districts(admin)
    await add_officer(admin, district="D1", call_sign="1A11", cit=True)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "safety": {"weapon": True}}, 201)
    [lead] = [u for u in call["recommendation"]["units"] if u["role"] == "lead"]
    assert lead["cit_certified"]
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    [cert] = (await admin.ok("GET", "/v1/certifications"))["items"]
    await admin.ok(
        "PATCH", f"/v1/certifications/{cert['id']}", {"expires_on": cert["certified_on"]}
    )
    report = await admin.ok("GET", "/v1/reports/outcomes")
    [g] = report["groups"]
    assert g["with_cit_officer"] == 0  # who was trained, as the certifications read now
    assert g["cit_lead_not_followed"]["total"] == 0
    assert report["groups"] == await _expected(admin, report)


async def test_a_range_and_a_district(admin: Api) -> None:
    await _calls(admin)
    start = (datetime.now(UTC) - timedelta(days=45)).isoformat().replace("+", "%2B")
    end = (datetime.now(UTC) + timedelta(minutes=1)).isoformat().replace("+", "%2B")
    report = await admin.ok(
        "GET", f"/v1/reports/outcomes?from={start}&to={end}&district=D1&group_by=district"
    )
    assert [g["key"] for g in report["groups"]] == ["D1"]
    assert report["groups"] == await _expected(admin, report, "D1")
    assert report["groups"][0]["calls"] == 3  # the old call counts now


async def test_a_start_alone_runs_until_now_not_into_the_month_ahead(admin: Api) -> None:
    await _calls(admin)
    before = datetime.now(UTC)
    start = before - timedelta(days=10)
    query = f"from={start.isoformat().replace('+', '%2B')}&group_by=month"
    report = await admin.ok("GET", f"/v1/reports/outcomes?{query}")
    end = datetime.fromisoformat(report["to"])
    assert before <= end <= datetime.now(UTC)  # not start + 30 days
    months = sorted({f"{d.astimezone(DENVER):%Y-%m}" for d in (start, end)})
    assert [g["key"] for g in report["groups"]] == months


def _q(moment: datetime) -> str:
    """An instant for a query string."""
    return moment.isoformat().replace("+", "%2B")


async def test_a_start_alone_in_the_future_is_a_422_naming_from(admin: Api) -> None:
    """Until now at the latest, a start still ahead has nothing to run to: it is refused,
    saying so, rather than a month of calls not yet received (or an empty report)."""
    await _calls(admin)
    ahead = datetime.now(UTC) + timedelta(days=3)
    response = await admin.get(f"/v1/reports/outcomes?from={_q(ahead)}&group_by=month")
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["loc"] == ["query", "from"]
    assert "`from` is in the future" in error["msg"]
    assert "give `to` too" in error["msg"]
    # So is one in the last days a time can hold: it was told the report ran 30 days after
    # it, past the year 9999, which a start alone never does.
    response = await admin.get("/v1/reports/outcomes?from=9999-12-20T00:00:00Z")
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert (error["loc"], error["msg"][:24]) == (["query", "from"], "`from` is in the future ")
    # Both ends given ask for that range, ahead or not: an empty month of calls.
    until = ahead + timedelta(days=30)
    later = await admin.ok("GET", f"/v1/reports/outcomes?from={_q(ahead)}&to={_q(until)}")
    assert [g["calls"] for g in later["groups"]] == [0]


async def test_one_csv_row_per_group(admin: Api) -> None:
    await _calls(admin)
    report = await admin.ok("GET", "/v1/reports/outcomes?group_by=district")
    response = await admin.client.get(
        "/v1/reports/outcomes?group_by=district",
        headers={**admin.headers, "Accept": "text/csv"},
    )
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["key"] for r in rows] == [g["key"] for g in report["groups"]]
    for row, group in zip(rows, report["groups"], strict=True):
        assert row["calls"] == str(group["calls"])
        assert row["outcomes.unrecorded"] == str(group["outcomes"]["unrecorded"])
        p50 = group["minutes_to_dispatch"]["p50"]
        assert row["minutes_to_dispatch.p50"] == ("" if p50 is None else str(p50))


async def test_a_csv_is_saved_under_its_district_and_local_days(admin: Api) -> None:
    """Every export was saved as `outcomes.csv`, one month's over the last, with nothing
    in it saying which period it was (the council's outside-in check)."""
    await grid_districts(admin)
    november = "from=2026-11-01T00:00:00-06:00&to=2026-12-01T00:00:00-07:00"
    for query, name in (
        (f"{november}&district=D1", "outcomes_D1_2026-11-01_2026-11-30"),
        # 23:30 on 31 October in Denver is 05:30 on 1 November in UTC.
        ("from=2026-11-01T05:30:00Z&to=2026-11-02T12:00:00Z", "outcomes_2026-10-31_2026-11-02"),
    ):
        response = await admin.client.get(
            f"/v1/reports/outcomes?{query.replace('+', '%2B')}",
            headers={**admin.headers, "Accept": "text/csv"},
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-disposition"] == f'attachment; filename="{name}.csv"'


@pytest.mark.parametrize(
    "query",
    [
        "group_by=week",
        "from=2026-01-01T00:00:00Z&to=2027-06-01T00:00:00Z",
        "from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
        "district=D9",
        "to=tomorrow",
        # One end alone, whose default other end (30 days away) is past the calendar.
        "to=0001-01-04T00:00:00Z",
        "from=9999-12-28T00:00:00Z",
    ],
)
async def test_bad_queries_are_a_422(admin: Api, query: str) -> None:
    await grid_districts(admin)
    response = await admin.get(f"/v1/reports/outcomes?{query}")
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
