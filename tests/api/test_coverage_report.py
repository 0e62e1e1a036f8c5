"""GET /v1/coverage against an independent count: every minute of the range, from the raw
lists (shifts, officers, certifications, co-responders, districts) the API returns."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from tests.helpers import Api, add_shift, all_items, certify, grid_districts, new_agency

DENVER = ZoneInfo("America/Denver")
KINDS = ("cit", "co_responder")


def _local(day: date, hour: int) -> datetime:
    """hour o'clock (may be 24 or more) on the local day, as an aware UTC instant."""
    return (datetime.combine(day, time(0), DENVER) + timedelta(hours=hour)).astimezone(UTC)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def _officer(api: Api, sign: str, *, cit: tuple[date, date] | None = None) -> str:
    sid = f"STATE-{sign}"
    officer = await api.ok(
        "POST",
        "/v1/officers",
        {"state_officer_id": sid, "badge_number": sign, "name": f"Officer {sign}"},
        201,
    )
    if cit is not None:
        await certify(api, sid, number=f"CIT-{sign}", certified_on=cit[0], expires_on=cit[1])
    return str(officer["id"])


async def _co_responder(api: Api, sign: str) -> str:
    body = {"name": sign, "kind": "clinician", "provider": "County MH"}
    return str((await api.ok("POST", "/v1/co-responders", body, 201))["id"])


async def _roster(api: Api) -> tuple[datetime, datetime]:
    """A hand-built roster over two local days; returns the range [start, end)."""
    await grid_districts(api)
    day0 = datetime.now(DENVER).date() + timedelta(days=3)
    day1 = day0 + timedelta(days=1)
    long = (day0 - timedelta(days=100), day0 + timedelta(days=300))

    async def shift(
        kind: str, who: str, sign: str, district: str, start: int, end: int, **kw: Any
    ) -> None:
        await add_shift(
            api,
            kind,
            who,
            call_sign=sign,
            district=district,
            starts_at=_local(day0, start),
            ends_at=_local(day0, end),
            **kw,
        )

    # A: certified on day0 only; the night shift crosses local midnight, when it expires.
    a = await _officer(api, "A", cit=(day0 - timedelta(days=100), day1))
    await shift("officer", a, "A", "D1", 20, 28)
    # B: a D2 shift that also covers D1.
    b = await _officer(api, "B", cit=long)
    await shift("officer", b, "B", "D2", 32, 40, also_covers=["D1"])
    # C: no CIT; D: CIT but separated; neither counts for CIT.
    c = await _officer(api, "C")
    await shift("officer", c, "C", "D1", 24, 32)
    d = await _officer(api, "D", cit=long)
    await shift("officer", d, "D", "D1", 0, 8)
    await api.ok("PATCH", f"/v1/officers/{d}", {"active": False})
    # E and F overlap in D4 (two CIT officers from 10:00 to 14:00).
    e = await _officer(api, "E", cit=long)
    await shift("officer", e, "E", "D4", 6, 14)
    f = await _officer(api, "F", cit=long)
    await shift("officer", f, "F", "D4", 10, 18)
    # G: certified from day1 on; the shift starts the evening before.
    g = await _officer(api, "G", cit=(day1, day1 + timedelta(days=300)))
    await shift("officer", g, "G", "D3", 20, 28)
    x = await _co_responder(api, "X")
    await shift("co_responder", x, "X", "D1", 8, 16)
    y = await _co_responder(api, "Y")
    await shift("co_responder", y, "Y", "D3", 33, 41, also_covers=["D4"])
    z = await _co_responder(api, "Z")
    await shift("co_responder", z, "Z", "D2", 0, 24)
    return _local(day0, 0), _local(day0, 48)


async def _expected(api: Api, start: datetime, end: datetime) -> dict[str, Any]:
    """The report, counted minute by minute from what the API lists."""
    policy = await api.ok("GET", "/v1/policy")
    targets = {
        "cit": policy["coverage_target_cit"],
        "co_responder": policy["coverage_target_co_responders"],
    }
    districts = {d["code"]: d for d in await all_items(api, "/v1/districts")}
    shifts = await all_items(api, "/v1/shifts")
    officers = {o["id"]: o for o in await all_items(api, "/v1/officers")}
    co_responders = {c["id"]: c for c in await all_items(api, "/v1/co-responders")}
    certs = await all_items(api, "/v1/certifications")

    def cit_on(state_id: str, day: date) -> bool:
        return any(
            c["state_officer_id"] == state_id
            and date.fromisoformat(c["certified_on"]) <= day < date.fromisoformat(c["expires_on"])
            for c in certs
        )

    def count(kind: str, code: str, t: datetime) -> int:
        units = set()
        for s in shifts:
            if code != s["district"] and code not in s["also_covers"]:
                continue
            if not _at(s["starts_at"]) <= t < _at(s["ends_at"]):
                continue
            if kind == "cit" and s["responder_type"] == "officer":
                o = officers[s["responder_id"]]
                if o["active"] and cit_on(o["state_officer_id"], t.astimezone(DENVER).date()):
                    units.add(s["responder_id"])
            co = s["responder_type"] == "co_responder"
            if kind == "co_responder" and co and co_responders[s["responder_id"]]["active"]:
                units.add(s["responder_id"])
        return len(units)

    minutes = [
        start + timedelta(minutes=m) for m in range(int((end - start).total_seconds() // 60))
    ]
    out = []
    exact: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for code in sorted(districts):
        neighbours = districts[code]["adjacent"]
        row: dict[str, Any] = {"district": code, "gaps": []}
        heat: dict[str, list[float | None]] = {}
        for kind in KINDS:
            covered = [count(kind, code, t) >= targets[kind] for t in minutes]
            next_door = [any(count(kind, n, t) >= 1 for n in neighbours) for t in minutes]
            exact[kind].append(100 * sum(covered) / len(minutes))
            row[f"{kind}_covered_pct"] = round(exact[kind][-1], 1)
            totals, hits = [0] * 168, [0] * 168
            for t, ok in zip(minutes, covered, strict=True):
                local = t.astimezone(DENVER)
                bucket = local.weekday() * 24 + local.hour
                totals[bucket] += 1
                hits[bucket] += ok
            heat[kind] = [
                None if n == 0 else round(h / n, 3) for h, n in zip(hits, totals, strict=True)
            ]
            i = 0
            while i < len(minutes):
                if covered[i]:
                    i += 1
                    continue
                j = i
                while j < len(minutes) and not covered[j]:
                    j += 1
                gap_end = minutes[j] if j < len(minutes) else end
                row["gaps"].append(
                    {
                        "kind": kind,
                        "from": minutes[i],
                        "to": gap_end,
                        "hours": round((gap_end - minutes[i]).total_seconds() / 3600, 2),
                        "adjacent_cover": all(next_door[i:j]),
                    }
                )
                i = j
        row["gaps"].sort(key=lambda g: (g["from"], g["kind"]))
        row["by_hour_of_week"] = heat
        out.append(row)
    return {
        "targets": {"cit_officers": targets["cit"], "co_responders": targets["co_responder"]},
        "districts": out,
        "summary": {
            "cit_covered_pct": round(sum(exact["cit"]) / len(out), 1),
            "co_responder_covered_pct": round(sum(exact["co_responder"]) / len(out), 1),
            "districts": len(out),
            "districts_always_cit_covered": sum(
                1 for d in out if not any(g["kind"] == "cit" for g in d["gaps"])
            ),
        },
    }


def _comparable(report: dict[str, Any]) -> dict[str, Any]:
    """The report with its instants parsed, without what the count does not compute."""
    for d in report["districts"]:
        for g in d["gaps"]:
            g["from"], g["to"] = _at(g["from"]), _at(g["to"])
    return {k: report[k] for k in ("targets", "districts", "summary")}


def _z(moment: datetime) -> str:
    """An instant as the answers and the trail write it."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _query(start: datetime, end: datetime) -> str:
    def quoted(moment: datetime) -> str:
        return moment.isoformat().replace("+", "%2B")

    return f"/v1/coverage?from={quoted(start)}&to={quoted(end)}"


async def test_coverage_matches_a_minute_by_minute_count_of_the_roster(admin: Api) -> None:
    start, end = await _roster(admin)
    report = await admin.ok("GET", _query(start, end))
    assert report["timezone"] == "America/Denver"
    assert _at(report["from"]) == start
    assert _at(report["to"]) == end
    assert _comparable(report) == await _expected(admin, start, end)

    by_code = {d["district"]: d for d in report["districts"]}
    day0 = start.astimezone(DENVER).date()
    cit_d1 = [(g["from"], g["to"]) for g in by_code["D1"]["gaps"] if g["kind"] == "cit"]
    # A's certification ends at local midnight, mid-shift; B covers D1 only through
    # also_covers, from 08:00 to 16:00 on day1.
    assert cit_d1 == [
        (_local(day0, 0), _local(day0, 20)),
        (_local(day0, 24), _local(day0, 32)),
        (_local(day0, 40), _local(day0, 48)),
    ]
    # Day0 in D1 has no co-responder at night, but Z covers D2 next door all day0.
    co_d1 = [g for g in by_code["D1"]["gaps"] if g["kind"] == "co_responder"]
    assert co_d1[0]["adjacent_cover"] is True
    assert co_d1[-1]["adjacent_cover"] is False


async def test_coverage_with_higher_targets_and_no_co_responder_required(admin: Api) -> None:
    start, end = await _roster(admin)
    policy = await admin.ok("GET", "/v1/policy")
    del policy["created_at"]
    await admin.ok(
        "PUT",
        "/v1/policy",
        {**policy, "coverage_target_cit": 2, "coverage_target_co_responders": 0},
    )
    report = await admin.ok("GET", _query(start, end))
    assert report["targets"] == {"cit_officers": 2, "co_responders": 0}
    assert _comparable(report) == await _expected(admin, start, end)
    d4 = next(d for d in report["districts"] if d["district"] == "D4")
    # E and F overlap from 10:00 to 14:00: 4 hours of 48.
    assert d4["cit_covered_pct"] == round(100 * 4 / 48, 1)
    assert all(d["co_responder_covered_pct"] == 100.0 for d in report["districts"])


async def test_one_district_and_the_csv_rows(admin: Api) -> None:
    start, end = await _roster(admin)
    report = await admin.ok("GET", _query(start, end) + "&district=D1")
    assert [d["district"] for d in report["districts"]] == ["D1"]
    assert report["summary"]["districts"] == 1
    whole = await admin.ok("GET", _query(start, end))
    assert report["districts"][0] == whole["districts"][0]

    response = await admin.client.get(
        _query(start, end), headers={**admin.headers, "Accept": "text/csv"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    expected_rows = sum(1 + len(d["gaps"]) for d in whole["districts"])
    assert len(rows) == expected_rows
    gaps = [r for r in rows if r["gap_kind"]]
    first = whole["districts"][0]["gaps"][0]
    assert gaps[0]["district"] == "D1"
    # The same text as the JSON's, byte for byte (both in UTC with Z).
    assert (gaps[0]["gap_from"], gaps[0]["gap_to"]) == (first["from"], first["to"])
    assert gaps[0]["adjacent_cover"] == str(first["adjacent_cover"]).lower()


async def test_the_summary_is_the_mean_of_the_exact_figures_rounded_once(admin: Api) -> None:
    # D1 and D2 each have a CIT officer for 1 hour of 14: 7.142...% each, shown as 7.1. Over
    # the four districts the mean is 3.571...%, so 3.6; the mean of the shown figures, 3.55,
    # came out as 3.5 (a float a hair under 3.55), and no district is that low.
    await grid_districts(admin)
    day = datetime.now(DENVER).date() + timedelta(days=3)
    start, end = _local(day, 6), _local(day, 20)
    cit = (day - timedelta(days=10), day + timedelta(days=10))
    for sign, district in (("1A1", "D1"), ("2A1", "D2")):
        who = await _officer(admin, sign, cit=cit)
        await add_shift(
            admin,
            "officer",
            who,
            call_sign=sign,
            district=district,
            starts_at=start + timedelta(hours=2),
            ends_at=start + timedelta(hours=3),
        )
    report = await admin.ok("GET", _query(start, end))
    shown = {d["district"]: d["cit_covered_pct"] for d in report["districts"]}
    assert shown == {"D1": 7.1, "D2": 7.1, "D3": 0.0, "D4": 0.0}
    assert report["summary"]["cit_covered_pct"] == 3.6


async def test_every_instant_of_the_report_is_utc_whatever_offset_the_range_used(
    admin: Api,
) -> None:
    # A gap clipped to the range's start took the caller's offset, beside a `to` in UTC.
    start, end = await _roster(admin)
    local = f"from={start.astimezone(DENVER).isoformat()}&to={end.astimezone(DENVER).isoformat()}"
    report = await admin.ok("GET", "/v1/coverage?" + local.replace("+", "%2B"))
    instants = [report["from"], report["to"]] + [
        g[side] for d in report["districts"] for g in d["gaps"] for side in ("from", "to")
    ]
    assert report["districts"][0]["gaps"][0]["from"] == report["from"]
    assert all(text.endswith("Z") for text in instants), instants
    assert _comparable(report) == _comparable(await admin.ok("GET", _query(start, end)))


@pytest.mark.parametrize(
    ("query", "where"),
    [
        (lambda s, e: f"from={s}&to={s}", "to"),
        (lambda s, e: f"from={e}&to={s}", "to"),
        (lambda s, e: "from=2026-01-01T00:00:00Z&to=2027-01-03T00:00:00Z", "to"),
        (lambda s, e: "district=D9", "district"),
        (lambda s, e: "from=yesterday", "from"),
        (lambda s, e: "from=2026-12-01T00:00:00", "from"),
        # One end alone, whose default other end (a week away) is past the calendar.
        (lambda s, e: "to=0001-01-04T00:00:00Z", "to"),
        (lambda s, e: "from=9999-12-28T00:00:00Z", "from"),
    ],
)
async def test_bad_ranges_and_unknown_districts_are_a_422(
    admin: Api, query: Callable[[str, str], str], where: str
) -> None:
    await grid_districts(admin)
    s, e = "2026-12-01T00:00:00Z", "2026-12-08T00:00:00Z"
    response = await admin.get(f"/v1/coverage?{query(s, e)}")
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert where in response.text


async def test_a_year_is_allowed_and_the_default_is_the_next_week(admin: Api) -> None:
    await grid_districts(admin)
    # All of a leap year, 366 days: the longest range there is.
    year = await admin.ok("GET", "/v1/coverage?from=2028-01-01T00:00:00Z&to=2029-01-01T00:00:00Z")
    assert len(year["districts"]) == 4
    longer = await admin.get("/v1/coverage?from=2028-01-01T00:00:00Z&to=2029-01-01T00:00:01Z")
    assert longer.status_code == 422
    week = await admin.ok("GET", "/v1/coverage")
    span = _at(week["to"]) - _at(week["from"])
    assert span == timedelta(days=7)
    assert abs(_at(week["from"]) - datetime.now(UTC)) < timedelta(minutes=1)
    # Nobody on the roster: every hour of the week is reached and uncovered.
    heat = week["districts"][0]["by_hour_of_week"]["cit"]
    assert len(heat) == 168
    assert set(heat) == {0.0}


async def test_the_night_clocks_go_back_counts_its_repeated_hour(admin: Api) -> None:
    """Denver falls back on 2027-11-07: 01:00-02:00 local happens twice."""
    await grid_districts(admin)
    saturday = date(2027, 11, 6)
    officer = await _officer(admin, "N", cit=(date(2027, 1, 1), date(2028, 1, 1)))
    await add_shift(
        admin,
        "officer",
        officer,
        call_sign="N",
        district="D1",
        starts_at=_local(saturday, 22),
        ends_at=datetime.combine(saturday + timedelta(days=1), time(6), DENVER).astimezone(UTC),
    )
    start, end = _local(saturday, 0), _local(saturday + timedelta(days=3), 0)
    report = await admin.ok("GET", _query(start, end) + "&district=D1")
    expected = await _expected(admin, start, end)
    assert _comparable(report)["districts"] == [expected["districts"][0]]
    # 9 real hours covered of 73 (the range has a 25-hour Sunday).
    assert report["districts"][0]["cit_covered_pct"] == round(100 * 9 / 73, 1)
    sunday_1am = 6 * 24 + 1
    assert report["districts"][0]["by_hour_of_week"]["cit"][sunday_1am] == 1.0


async def test_a_past_shift_keeps_the_coverage_it_gave_after_its_officer_leaves(
    admin: Api, db: asyncpg.Connection
) -> None:
    """The past is read as it was: yesterday's shift of a CIT officer covered D1, and still
    does after the officer is separated and the certification voided as recorded in error;
    the same officer's shift tomorrow covers nothing any more."""
    await grid_districts(admin)
    today = datetime.now(UTC).date()
    officer = await _officer(
        admin, "P", cit=(today - timedelta(days=100), today + timedelta(days=300))
    )
    yesterday = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    tomorrow = yesterday + timedelta(days=2)
    for starts in (yesterday, tomorrow):
        await add_shift(
            admin,
            "officer",
            officer,
            call_sign="1P",
            district="D1",
            starts_at=starts,
            ends_at=starts + timedelta(hours=8),
        )

    # Yesterday's shift was on the roster before it began: dispatch worked from it (one
    # entered after it ended takes the certifications as they are now: below).
    await db.execute("UPDATE shift SET created_at = starts_at - interval '1 day'")

    assert (await _d1_cit(admin, yesterday), await _d1_cit(admin, tomorrow)) == (100.0, 100.0)
    [cert] = (await admin.ok("GET", "/v1/certifications?state_officer_id=STATE-P"))["items"]
    await admin.ok(
        "PATCH", f"/v1/certifications/{cert['id']}", {"expires_on": cert["certified_on"]}
    )
    await admin.ok("PATCH", f"/v1/officers/{officer}", {"active": False})
    assert (await _d1_cit(admin, yesterday), await _d1_cit(admin, tomorrow)) == (100.0, 0.0)


async def _d1_cit(api: Api, starts: datetime) -> float:
    """D1's CIT coverage over the eight hours from starts."""
    report = await api.ok("GET", _query(starts, starts + timedelta(hours=8)) + "&district=D1")
    return float(report["districts"][0]["cit_covered_pct"])


async def test_a_roster_written_up_after_the_fact_takes_the_certifications_recorded_later(
    admin: Api,
) -> None:
    """An agency wrote up last week's shifts, then recorded its officers' certifications:
    every day of that history stayed a CIT gap for good, as if the officers had not been
    certified, while the outcome report counted them as CIT (an outside-in check). A shift
    entered after it ended was never dispatch's roster: it follows the record."""
    await grid_districts(admin)
    officer = await _officer(admin, "H")
    week_ago = datetime.now(UTC).replace(microsecond=0) - timedelta(days=7)
    await add_shift(
        admin,
        "officer",
        officer,
        call_sign="1H",
        district="D1",
        starts_at=week_ago,
        ends_at=week_ago + timedelta(hours=8),
    )
    assert await _d1_cit(admin, week_ago) == 0.0
    today = datetime.now(UTC).date()
    await certify(
        admin,
        "STATE-H",
        number="CIT-H",
        certified_on=today - timedelta(days=100),
        expires_on=today + timedelta(days=300),
    )
    assert await _d1_cit(admin, week_ago) == 100.0
    # Voided as recorded in error, it is gone from that history too.
    [cert] = (await admin.ok("GET", "/v1/certifications?state_officer_id=STATE-H"))["items"]
    await admin.ok(
        "PATCH", f"/v1/certifications/{cert['id']}", {"expires_on": cert["certified_on"]}
    )
    assert await _d1_cit(admin, week_ago) == 0.0


@pytest.mark.parametrize("kind", ["officer", "co_responder"])
async def test_a_unit_leaving_mid_shift_keeps_the_hours_it_worked(admin: Api, kind: str) -> None:
    """A separation at 03:55 erased the coverage of a shift worked since midnight, though
    routing had sent the officer as CIT lead at 03:47 (outside-in check): the shift under
    way now ends at the separation, and only the rest of it is a gap."""
    await grid_districts(admin)
    today = datetime.now(UTC).date()
    if kind == "officer":
        unit = await _officer(
            admin, "P", cit=(today - timedelta(days=100), today + timedelta(days=300))
        )
        path, figure = f"/v1/officers/{unit}", "cit_covered_pct"
    else:
        unit = await _co_responder(admin, "MCT")
        path, figure = f"/v1/co-responders/{unit}", "co_responder_covered_pct"
    starts = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    ends = starts + timedelta(hours=8)
    await add_shift(
        admin, kind, unit, call_sign="1P", district="D1", starts_at=starts, ends_at=ends
    )
    tomorrow = starts + timedelta(days=1)
    await add_shift(
        admin,
        kind,
        unit,
        call_sign="1P",
        district="D1",
        starts_at=tomorrow,
        ends_at=tomorrow + timedelta(hours=8),
    )
    before = datetime.now(UTC)
    await admin.ok("PATCH", path, {"active": False})
    after = datetime.now(UTC)
    shift, ahead = (await admin.ok("GET", "/v1/shifts?district=D1"))["items"]
    ended = datetime.fromisoformat(shift["ends_at"])
    assert before - timedelta(seconds=1) <= ended <= after
    assert _at(ahead["ends_at"]) == tomorrow + timedelta(hours=8)  # kept, as it was
    # In the trail as the shift's own change, naming why.
    [entry] = (await admin.ok("GET", "/v1/audit?action=shift.update"))["items"]
    assert entry["resource_id"] == shift["id"]
    assert entry["detail"]["reason"] == "responder deactivated"
    assert entry["detail"]["changed"] == {"ends_at": {"from": _z(ends), "to": shift["ends_at"]}}
    report = await admin.ok("GET", _query(starts, ends) + "&district=D1")
    [d1] = report["districts"]
    worked = (ended - starts).total_seconds() / (ends - starts).total_seconds()
    assert d1[figure] == round(100 * worked, 1)
    gap_kind = "cit" if kind == "officer" else "co_responder"
    gaps = [(g["from"], g["to"]) for g in d1["gaps"] if g["kind"] == gap_kind]
    assert [(_at(a), _at(b)) for a, b in gaps] == [(ended, ends)]
    # Back: its shift ahead counts again; the one it left stays ended.
    await admin.ok("PATCH", path, {"active": True})
    later = await admin.ok("GET", _query(tomorrow, tomorrow + timedelta(hours=8)) + "&district=D1")
    assert later["districts"][0][figure] == 100.0
    again = await admin.ok("GET", _query(starts, ends) + "&district=D1")
    assert again["districts"][0][figure] == d1[figure]


@pytest.mark.parametrize(
    ("starts", "ends"),
    [
        # Clocks go back half an hour at 02:00 (to 01:30): local 01:00 lasts 90 minutes.
        ("2027-04-04T00:15:00+11:00", "2027-04-04T08:00:00+10:30"),
        # Clocks go forward half an hour at 02:00 (to 02:30): local 02:00 lasts 30 minutes.
        ("2026-10-04T00:15:00+10:30", "2026-10-04T08:00:00+11:00"),
    ],
)
async def test_the_heat_map_follows_a_half_hour_clock_change(
    app: FastAPI, client: httpx.AsyncClient, starts: str, ends: str
) -> None:
    """Lord Howe Island moves its clocks by half an hour: hours counted as 3,600 seconds
    from a local boundary fell half an hour off the local hours after it, and the shift's
    last hour read as half covered (from the outside-in check)."""
    zone = ZoneInfo("Australia/Lord_Howe")
    api = await new_agency(app, client, name="Lord Howe", timezone=zone.key)
    await api.ok("POST", "/v1/districts", {"code": "Z1", "name": "Island"}, 201)
    shift = (datetime.fromisoformat(starts), datetime.fromisoformat(ends))
    officer = await _officer(api, "LH", cit=(date(2020, 1, 1), date(2030, 1, 1)))
    await add_shift(
        api,
        "officer",
        officer,
        call_sign="LH1",
        district="Z1",
        starts_at=shift[0],
        ends_at=shift[1],
    )
    day = shift[0].astimezone(zone).date()
    start = datetime.combine(day - timedelta(days=1), time(0), zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
    report = await api.ok("GET", _query(start, end))
    # The hour of the week of each minute of the range, on the island's clock.
    totals, hits = [0] * 168, [0] * 168
    moment = start
    while moment < end:
        local = moment.astimezone(zone)
        bucket = local.weekday() * 24 + local.hour
        totals[bucket] += 1
        hits[bucket] += shift[0] <= moment < shift[1]
        moment += timedelta(minutes=1)
    expected = [None if n == 0 else round(h / n, 3) for h, n in zip(hits, totals, strict=True)]
    assert report["districts"][0]["by_hour_of_week"]["cit"] == expected
    last = shift[1].astimezone(zone) - timedelta(minutes=1)
    assert expected[last.weekday() * 24 + last.hour] == 1.0
