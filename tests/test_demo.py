"""`serve --demo` seeds what the README's coordinator walkthrough shows: a D4 night-watch
CIT gap on the roster ahead, the program's figures, and a month of outcomes."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg
import httpx

from app.demo import seed_demo
from app.demo.history import CALLS_PER_DAY, DAYS
from app.demo.roster import DAYS_AHEAD

DENVER = ZoneInfo("America/Denver")


async def test_the_demo_shows_the_program_reports(
    database_url: str, client: httpx.AsyncClient, capsys: Any
) -> None:
    key = await seed_demo(database_url, base_url="http://demo.test")
    assert key in capsys.readouterr().out
    headers = {"Authorization": f"Bearer {key}"}

    async def get(url: str) -> Any:
        response = await client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    coverage = await get("/v1/coverage")
    by_code = {d["district"]: d for d in coverage["districts"]}
    assert by_code["D1"]["cit_covered_pct"] == 100.0
    d4_cit = [g for g in by_code["D4"]["gaps"] if g["kind"] == "cit"]
    assert d4_cit, "D4's night watch has no CIT officer"
    for gap in d4_cit:
        start = datetime.fromisoformat(gap["from"]).astimezone(DENVER)
        end = datetime.fromisoformat(gap["to"]).astimezone(DENVER)
        # Each gap lies within a night watch (23:00 to 07:00 local), clipped to the range.
        assert start.hour >= 23 or start.hour < 7
        assert end.hour <= 7 or end.hour == 23 or gap["to"] == coverage["to"]
        assert gap["adjacent_cover"] is True
    night = by_code["D4"]["by_hour_of_week"]["cit"]
    assert night[2] == 0.0  # Monday 02:00
    assert night[12] == 1.0  # Monday noon

    # A point on a district's edge, as a dispatcher types it: 40.76 + 0.05 was stored as
    # 40.809999999999995, and the point fell in no district.
    for lat, lon, code in ((40.81, -111.92, "D1"), (40.78, -111.89, "D1"), (40.71, -111.86, "D4")):
        assert (await get(f"/v1/districts/locate?lat={lat}&lon={lon}"))["code"] == code
    # No two officers share a name: a board showing two alike had a dispatcher guess.
    officers = (await get("/v1/officers?limit=500"))["items"]
    assert len({o["name"] for o in officers}) == len(officers) == 48
    program = await get("/v1/program")
    assert program["officers"]["active"] == 48
    assert program["officers"]["cit_certified"] == 11
    assert [w["code"] for w in program["warnings"]] == ["non_volunteer_certified"]
    assert [e["days_left"] for e in program["certifications_expiring"]] == [20, 75]

    # Newest first, as received: the seeded past listed in another order read as a muddle.
    listed = [c["received_at"] for c in (await get("/v1/calls?limit=100"))["items"]]
    assert len(listed) == 100
    assert listed == sorted(listed, reverse=True)

    [month] = (await get("/v1/reports/outcomes"))["groups"]
    assert month["calls"] >= 90
    assert month["cleared"] == month["calls"]
    assert month["diverted_to_mh_services"] > month["justice_involved"] > 0
    assert month["mh_lead_not_followed"]["total"] > 0
    assert month["minutes_to_dispatch"]["p50"] is not None

    async def shifts() -> int:
        count, cursor = 0, ""
        while True:
            page = await get(f"/v1/shifts?limit=500{cursor}")
            count += len(page["items"])
            if not page["next_cursor"]:
                return count
            cursor = f"&cursor={page['next_cursor']}"

    # 54 responders, each on one watch a day from yesterday to 14 days ahead.
    assert await shifts() == 54 * 16
    # Serving the demo again keeps the agency and adds no duplicate shift.
    await seed_demo(database_url, base_url="http://demo.test")
    assert await shifts() == 54 * 16


async def _calls_per_day(db: asyncpg.Connection) -> dict[date, int]:
    rows = await db.fetch(
        "SELECT (received_at AT TIME ZONE 'America/Denver')::date AS day, count(*) AS n"
        " FROM call GROUP BY 1"
    )
    return {r["day"]: r["n"] for r in rows}


async def test_the_demo_runs_again_on_a_later_day_with_a_current_roster(
    database_url: str, client: httpx.AsyncClient, db: asyncpg.Connection, capsys: Any
) -> None:
    """The second `serve --demo` on the same data: same agency, a new working key, officers
    on shift at the new now, no overlapping or duplicate shift, and no day of calls twice;
    responders and shifts added by hand in between are left as they are."""
    first_now = datetime.now(DENVER)
    first_key = await seed_demo(database_url, base_url="http://demo.test", now=first_now)
    first_out = capsys.readouterr().out
    headers = {"Authorization": f"Bearer {first_key}"}
    calls_first = await _calls_per_day(db)
    assert len(calls_first) == DAYS

    # Same day again: nothing new but the key.
    assert await seed_demo(database_url, base_url="http://demo.test", now=first_now) != first_key
    assert await _calls_per_day(db) == calls_first

    # Between the runs, a coordinator adds an officer of their own and, for a demo officer,
    # a shift on a day the next run rosters (the day watch, 07:00 to 15:00).
    made = await client.post(
        "/v1/officers",
        headers=headers,
        json={"state_officer_id": "UT-POST-9999", "badge_number": "X1", "name": "Added By Hand"},
    )
    assert made.status_code == 201, made.text
    officers = (await client.get("/v1/officers?limit=500", headers=headers)).json()["items"]
    day_officer = next(o for o in officers if o["badge_number"] == "1A10")
    extra_day = first_now.date() + timedelta(days=DAYS_AHEAD + 2)
    extra = await client.post(
        "/v1/shifts",
        headers=headers,
        json={
            "responder_type": "officer",
            "responder_id": day_officer["id"],
            "call_sign": "1A10",
            "district": "D1",
            "starts_at": datetime.combine(extra_day, time(9), DENVER).isoformat(),
            "ends_at": datetime.combine(extra_day, time(11), DENVER).isoformat(),
        },
    )
    assert extra.status_code == 201, extra.text

    later = first_now + timedelta(days=3)
    key = await seed_demo(database_url, base_url="http://demo.test", now=later)
    out = capsys.readouterr().out
    agency_line = first_out.strip().splitlines()[0]
    assert out.strip().splitlines()[0] == agency_line  # the same demo agency
    assert f"export CIT_KEY={key}" in out
    # The README's EIDO subscriber line takes $AGENCY_ID: the demo's own id, ready to paste.
    agency_id = agency_line.split("demo agency ")[1].split()[0]
    assert f"export AGENCY_ID={agency_id}\n" in out
    units = await client.get("/v1/units", headers={"Authorization": f"Bearer {key}"})
    assert units.status_code == 200, units.text
    assert units.json()["items"], "someone is on shift now"

    # At the later now, each district has officers on shift, and each demo responder is on
    # exactly the watch their post says.
    on_shift = await db.fetch(
        "SELECT s.call_sign, d.code FROM shift s JOIN district d ON d.id = s.district_id"
        " WHERE s.starts_at <= $1 AND s.ends_at > $1",
        later,
    )
    assert {r["code"] for r in on_shift} == {"D1", "D2", "D3", "D4"}
    letter = "A" if 7 <= later.hour < 15 else "B" if 15 <= later.hour < 23 else "C"
    officer_signs = [r["call_sign"] for r in on_shift if not r["call_sign"].startswith("MCT")]
    assert len(officer_signs) == 16
    assert all(sign[1] == letter for sign in officer_signs)

    overlaps = await db.fetchval(
        "SELECT count(*) FROM shift a JOIN shift b ON a.responder_id = b.responder_id"
        " AND a.id < b.id AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at"
    )
    assert overlaps == 0
    # 54 responders, one watch a day from the first run's yesterday to the later run's
    # 14 days ahead, less the watch the hand-made shift stands in for, plus that shift.
    span = (later.date() + timedelta(days=DAYS_AHEAD)) - (first_now.date() - timedelta(days=1))
    assert await db.fetchval("SELECT count(*) FROM shift") == 54 * (span.days + 1)
    that_day = await db.fetch(
        "SELECT starts_at FROM shift WHERE responder_id = $1"
        " AND (starts_at AT TIME ZONE 'America/Denver')::date = $2",
        UUID(day_officer["id"]),
        extra_day,
    )
    assert [r["starts_at"].astimezone(DENVER).hour for r in that_day] == [9]
    hand_made = await db.fetchval(
        "SELECT count(*) FROM shift s JOIN officer o ON o.id = s.responder_id"
        " WHERE o.badge_number = 'X1'"
    )
    assert hand_made == 0

    # Past calls: the 30 days before the later now, each day seeded once; the days that were
    # there are unchanged.
    calls = await _calls_per_day(db)
    later_today = later.date()
    expected_days = {later_today - timedelta(days=back) for back in range(1, DAYS + 1)}
    assert expected_days <= set(calls)
    for day in expected_days:
        assert CALLS_PER_DAY[0] <= calls[day] <= CALLS_PER_DAY[1], day
    for day, n in calls_first.items():
        assert calls[day] == n
