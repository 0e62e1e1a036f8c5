"""`serve --demo` seeds what the README's coordinator walkthrough shows: a D4 night-watch
CIT gap on the roster ahead, the program's figures, and a month of outcomes."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from app.demo import seed_demo

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

    program = await get("/v1/program")
    assert program["officers"]["active"] == 48
    assert program["officers"]["cit_certified"] == 11
    assert [w["code"] for w in program["warnings"]] == ["non_volunteer_certified"]
    assert [e["days_left"] for e in program["certifications_expiring"]] == [20, 75]

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
