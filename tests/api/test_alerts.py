"""Alerts ahead of time: coverage gaps and expiring certifications, each sent once, to
agency-wide webhooks only, delivered by the relay to a real receiver."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from fastapi import FastAPI
from standardwebhooks import Webhook

from app.repositories.alerts import LOOKS_LOCK
from app.services import alerts
from app.state import AppState
from tests.conftest import ServiceFactory
from tests.helpers import Api, add_officer, add_shift, certify, grid_districts
from tests.receiver import Receiver

TYPES = ["coverage.gap_ahead", "certification.expiring"]


async def _a_day_ahead_cit_only(admin: Api) -> None:
    """The policy looks one day ahead, for CIT gaps only (no co-responder required)."""
    policy = await admin.ok("GET", "/v1/policy")
    del policy["created_at"]
    await admin.ok(
        "PUT",
        "/v1/policy",
        {**policy, "coverage_alert_days": 1, "coverage_target_co_responders": 0},
    )


async def _agency(admin: Api) -> tuple[datetime, str]:
    """D1 has a CIT officer from 2 h to 10 h from now; two certifications end soon."""
    await grid_districts(admin)
    await _a_day_ahead_cit_only(admin)
    now = datetime.now(UTC)
    # add_officer puts each on shift now (in D3 and D4); their certifications end soon.
    soon = await add_officer(
        admin, district="D3", call_sign="3A1", cit=True, cert_expires_in_days=5
    )
    await add_officer(admin, district="D4", call_sign="4A1", cit=True, cert_expires_in_days=25)
    officer = await admin.ok(
        "POST",
        "/v1/officers",
        {"state_officer_id": "S-1A1", "badge_number": "1A1", "name": "Officer 1A1"},
        201,
    )
    await admin.ok(
        "POST",
        "/v1/certifications",
        {
            "state_officer_id": "S-1A1",
            "certification_number": "C-1A1",
            "program": "State CIT 40h",
            "certified_on": str(now.date() - timedelta(days=100)),
            "expires_on": str(now.date() + timedelta(days=400)),
            "volunteered": True,
        },
        201,
    )
    await add_shift(
        admin,
        "officer",
        officer["id"],
        call_sign="1A1",
        district="D1",
        starts_at=now + timedelta(hours=2),
        ends_at=now + timedelta(hours=10),
    )
    return now, soon


@pytest.fixture
async def terminal() -> AsyncIterator[Receiver]:
    """A second receiver, for a unit's terminal."""
    r = Receiver()
    await r.start()
    yield r
    await r.stop()


def _data(secret: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    payload: dict[str, Any] = Webhook(secret).verify(body, headers)
    return payload


async def test_each_alert_is_sent_once_to_agency_wide_listeners_only(
    admin: Api,
    app: FastAPI,
    receiver: Receiver,
    terminal: Receiver,
    service: ServiceFactory,
    db: asyncpg.Connection,
) -> None:
    now, soon = await _agency(admin)
    # 1A1 is back on shift the day after: D1's gap runs past the one day looked ahead.
    roster = (await admin.ok("GET", "/v1/officers?limit=500"))["items"]
    await add_shift(
        admin,
        "officer",
        next(o["id"] for o in roster if o["badge_number"] == "1A1"),
        call_sign="1A1",
        district="D1",
        starts_at=now + timedelta(hours=30),
        ends_at=now + timedelta(hours=38),
    )
    cad = await admin.ok("POST", "/v1/webhooks", {"url": receiver.url, "events": TYPES}, 201)
    # A unit's terminal may not ask for the alerts: they are about no unit.
    asked = {"url": terminal.url, "events": TYPES, "responder_id": soon}
    await admin.ok("POST", "/v1/webhooks", asked, 422)
    # One that asked before that rule still hears none (the fan-out trigger's rule).
    made = await admin.ok("POST", "/v1/webhooks", {**asked, "events": ["unit.assigned"]}, 201)
    await db.execute(
        "UPDATE webhook_subscription SET events = $1 WHERE id = $2", TYPES, uuid.UUID(made["id"])
    )
    state: AppState = app.state.cit
    # Two instances looking ahead at the same moment send each alert once.
    first = await asyncio.gather(
        alerts.look_ahead(state, now=now), alerts.look_ahead(state, now=now)
    )
    assert sorted(first) == [0, 7]
    assert await alerts.look_ahead(state, now=now + timedelta(minutes=10)) == 0

    async with service():
        received = await receiver.wait_for(7)
        await asyncio.sleep(0.5)
    assert len(receiver.requests) == 7
    assert terminal.requests == []
    payloads = [_data(cad["secret"], r.body, r.headers) for r in received]
    by_type: dict[str, list[dict[str, Any]]] = {}
    for p in payloads:
        by_type.setdefault(p["type"], []).append(p["data"])

    told = by_type["coverage.gap_ahead"]
    gaps = {g["district"]: g for g in told if not g["under_way"]}
    # The gaps after each shift ends are ahead.
    assert sorted(gaps) == ["D1", "D3", "D4"]
    # D2 has nobody on its roster, and D1 nobody until 1A1's shift in 2 h: gaps under way
    # since their districts were made, a moment ago, never told ahead.
    now_ = {g["district"]: g for g in told if g["under_way"]}
    assert sorted(now_) == ["D1", "D2"]
    for begun in now_.values():
        assert now - timedelta(minutes=1) < datetime.fromisoformat(begun["from"]) < now
    assert datetime.fromisoformat(now_["D1"]["to"]) == now + timedelta(hours=2)
    assert 2.0 <= now_["D1"]["hours"] < 2.1
    assert (now_["D2"]["to"], now_["D2"]["hours"]) == (None, None)
    gap = gaps["D1"]
    assert gap["kind"] == "cit"
    # Instants as every answer writes them: UTC, with Z.
    assert all(p["timestamp"].endswith("Z") for p in payloads)
    assert gap["from"].endswith("Z")
    assert gap["to"].endswith("Z")
    assert datetime.fromisoformat(gap["from"]) == now + timedelta(hours=10)
    # Its whole length, not the hours left of the day looked ahead: it is sent once.
    assert datetime.fromisoformat(gap["to"]) == now + timedelta(hours=30)
    assert gap["hours"] == 20.0
    assert gap["adjacent_cover"] is False
    assert gap["target"] == 1
    # No shift on the roster ends D3's gap: no end is made up for it.
    assert (gaps["D3"]["to"], gaps["D3"]["hours"]) == (None, None)

    expiring = sorted(by_type["certification.expiring"], key=lambda d: d["days_left"])
    assert [(d["badge_number"], d["threshold_days"]) for d in expiring] == [
        ("B-3A1", 7),
        ("B-4A1", 30),
    ]
    assert expiring[0]["officer_id"] == soon
    assert expiring[0]["districts"] == ["D3"]
    assert (
        await db.fetchval("SELECT count(*) FROM alert_sent WHERE agency_id = $1", admin.agency_id)
        == 7
    )


async def test_a_gap_told_without_an_end_is_told_again_once_the_roster_ends_it(
    admin: Api, app: FastAPI, db: asyncpg.Connection
) -> None:
    now, soon = await _agency(admin)
    state: AppState = app.state.cit
    await alerts.look_ahead(state, now=now)

    async def told(district: str) -> list[tuple[str | None, float | None]]:
        rows = await db.fetch(
            "SELECT payload FROM event WHERE type = 'coverage.gap_ahead'"
            " AND payload->>'district' = $1 ORDER BY created_at, id",
            district,
        )
        return [(p["to"], p["hours"]) for p in (json.loads(r["payload"]) for r in rows)]

    [(to, hours)] = await told("D3")
    assert (to, hours) == (None, None)
    # 3A1 is rostered again: the gap after its shift now has an end, and is told again.
    shift = (await admin.ok("GET", "/v1/shifts?district=D3"))["items"][0]
    ends = datetime.fromisoformat(shift["ends_at"])
    await add_shift(
        admin,
        "officer",
        soon,
        call_sign="3A1",
        district="D3",
        starts_at=ends + timedelta(hours=20),
        ends_at=ends + timedelta(hours=28),
    )
    assert await alerts.look_ahead(state, now=now) == 1
    assert await alerts.look_ahead(state, now=now) == 0
    again = await told("D3")
    assert len(again) == 2
    assert datetime.fromisoformat(str(again[1][0])) == ends + timedelta(hours=20)
    assert again[1][1] == 20.0


async def test_a_gap_whose_end_moves_is_told_again_with_its_new_end(
    admin: Api, app: FastAPI, db: asyncpg.Connection
) -> None:
    """D1's CIT gap after 1A1's shift was told to end when 1A1 comes back; that shift is
    cancelled, and the gap runs on to the next one. A coordinator told the shorter gap
    would plan for it: the longer one is told, once."""
    now, _ = await _agency(admin)
    state: AppState = app.state.cit
    for hours in (20, 30):
        await _roster_1a1(admin, now + timedelta(hours=hours), now + timedelta(hours=hours + 8))

    async def told() -> list[tuple[datetime, datetime]]:
        rows = await db.fetch(
            "SELECT payload FROM event WHERE type = 'coverage.gap_ahead'"
            " AND payload->>'district' = 'D1' AND payload->>'under_way' = 'false'"
            " ORDER BY created_at, id"
        )
        return [
            (datetime.fromisoformat(p["from"]), datetime.fromisoformat(p["to"]))
            for p in (json.loads(r["payload"]) for r in rows)
        ]

    await alerts.look_ahead(state, now=now)
    after_shift = now + timedelta(hours=10)
    assert [g for g in await told() if g[0] == after_shift] == [
        (after_shift, now + timedelta(hours=20))
    ]
    shifts = (await admin.ok("GET", "/v1/shifts?district=D1"))["items"]
    [cancelled] = [s for s in shifts if _at(s["starts_at"]) == now + timedelta(hours=20)]
    await admin.ok("DELETE", f"/v1/shifts/{cancelled['id']}", status=204)
    assert await alerts.look_ahead(state, now=now) == 1
    assert await alerts.look_ahead(state, now=now) == 0
    assert [g for g in await told() if g[0] == after_shift] == [
        (after_shift, now + timedelta(hours=20)),
        (after_shift, now + timedelta(hours=30)),
    ]
    # The shift is put back: the gap ends as first told, and is told so again (an end
    # told before is no reason to keep quiet: the last one told is not it).
    await _roster_1a1(admin, now + timedelta(hours=20), now + timedelta(hours=28))
    assert await alerts.look_ahead(state, now=now) == 1
    assert await alerts.look_ahead(state, now=now) == 0
    assert [g[1] for g in await told() if g[0] == after_shift] == [
        now + timedelta(hours=20),
        now + timedelta(hours=30),
        now + timedelta(hours=20),
    ]


async def test_a_gaps_hours_read_as_in_the_coverage_report(
    admin: Api, app: FastAPI, db: asyncpg.Connection
) -> None:
    """1A1 is back 2 h 7 min 30 s after its shift ends: D1's CIT gap is 2.125 hours. The
    report rounds a half up (2.13); the alert rounded it to even (2.12), so a coordinator
    checking the alert against GET /v1/coverage read two lengths for one gap."""
    now, _ = await _agency(admin)
    after_shift = now + timedelta(hours=10)
    back = after_shift + timedelta(hours=2, minutes=7, seconds=30)
    await _roster_1a1(admin, back, back + timedelta(hours=8))
    await alerts.look_ahead(app.state.cit, now=now)
    rows = await db.fetch(
        "SELECT payload FROM event WHERE type = 'coverage.gap_ahead'"
        " AND payload->>'district' = 'D1'"
    )
    [told] = [
        g for g in map(json.loads, (r["payload"] for r in rows)) if _at(g["from"]) == after_shift
    ]
    assert _at(told["to"]) == back
    report = await admin.ok("GET", "/v1/coverage?district=D1")
    [gap] = [g for g in report["districts"][0]["gaps"] if _at(g["from"]) == after_shift]
    assert (gap["to"], gap["hours"]) == (told["to"], 2.13)
    assert told["hours"] == gap["hours"]


async def test_a_gap_told_and_then_covered_is_told_closed_once_and_told_again_if_it_returns(
    admin: Api, app: FastAPI, db: asyncpg.Connection
) -> None:
    """D1's CIT gap between 1A1's shifts is told; a shift is added that covers it. The
    coordinator's feed kept the gap told, as if still to come (the coordinator's check):
    coverage.gap_closed says it is no more, once. The shift removed again, the gap is told
    again, as new."""
    now, _ = await _agency(admin)
    state: AppState = app.state.cit
    await _roster_1a1(admin, now + timedelta(hours=20), now + timedelta(hours=28))
    await alerts.look_ahead(state, now=now)
    between = (now + timedelta(hours=10), now + timedelta(hours=20))

    async def payloads(kind: str) -> list[dict[str, Any]]:
        rows = await db.fetch(
            "SELECT payload FROM event WHERE type = $1 AND payload->>'district' = 'D1'"
            " ORDER BY created_at, id",
            kind,
        )
        return [json.loads(r["payload"]) for r in rows]

    told = [g for g in await payloads("coverage.gap_ahead") if _at(g["from"]) == between[0]]
    assert [_at(g["to"]) for g in told] == [between[1]]
    assert await payloads("coverage.gap_closed") == []
    await _roster_1a1(admin, *between)
    assert await alerts.look_ahead(state, now=now) == 1
    assert await alerts.look_ahead(state, now=now) == 0
    [closed] = await payloads("coverage.gap_closed")
    assert closed == {
        "district": "D1",
        "kind": "cit",
        "from": told[0]["from"],
        "to": told[0]["to"],
        "part_of": None,
    }
    # Removed again, the gap is on the roster as told before: it is told again.
    shifts = (await admin.ok("GET", "/v1/shifts?district=D1"))["items"]
    [added] = [s for s in shifts if _at(s["starts_at"]) == between[0]]
    await admin.ok("DELETE", f"/v1/shifts/{added['id']}", status=204)
    assert await alerts.look_ahead(state, now=now) == 1
    told = [g for g in await payloads("coverage.gap_ahead") if _at(g["from"]) == between[0]]
    assert [_at(g["to"]) for g in told] == [between[1], between[1]]
    # A gap over as told is not closed: past its end, nothing more is said of it.
    await alerts.look_ahead(state, now=between[1] + timedelta(minutes=5))
    assert len(await payloads("coverage.gap_closed")) == 1


async def test_a_gap_told_that_runs_into_one_not_told_again_is_not_closed(
    admin: Api, app: FastAPI, db: asyncpg.Connection
) -> None:
    """Two days on, D1's gap after 1A1's shift is told; the shift is removed (or the CIT
    target raised), and that gap is now part of one under way for more than a day, which
    no look tells again. Closing it left the coordinator's last word on a district with no
    CIT officer "closed" (review): it stays as told. Two told gaps that become one: the
    later is closed as part of the earlier, told again with its new end."""
    now, _ = await _agency(admin)
    state: AppState = app.state.cit
    later = now + timedelta(days=2)
    await _roster_1a1(admin, later + timedelta(hours=2), later + timedelta(hours=10))
    await _roster_1a1(admin, later + timedelta(hours=14), later + timedelta(hours=16))
    await alerts.look_ahead(state, now=later)

    async def closed() -> list[dict[str, Any]]:
        rows = await db.fetch("SELECT payload FROM event WHERE type = 'coverage.gap_closed'")
        return [json.loads(r["payload"]) for r in rows]

    policy = await admin.ok("GET", "/v1/policy")
    del policy["created_at"]
    await admin.ok("PUT", "/v1/policy", {**policy, "coverage_target_cit": 2})
    await alerts.look_ahead(state, now=later)
    assert await closed() == []
    await admin.ok("PUT", "/v1/policy", {**policy, "coverage_target_cit": 1})
    shifts = (await admin.ok("GET", "/v1/shifts?district=D1"))["items"]
    [first] = [s for s in shifts if _at(s["starts_at"]) == later + timedelta(hours=2)]
    [second] = [s for s in shifts if _at(s["starts_at"]) == later + timedelta(hours=14)]
    # The shift between two told gaps goes: they are one, told from the first's start.
    await admin.ok("DELETE", f"/v1/shifts/{second['id']}", status=204)
    await alerts.look_ahead(state, now=later)
    after = later + timedelta(hours=10)
    assert await closed() == [
        {
            "district": "D1",
            "kind": "cit",
            "from": _text(later + timedelta(hours=16)),
            "to": None,
            "part_of": _text(after),
        }
    ]
    told = await db.fetch(
        "SELECT payload FROM event WHERE type = 'coverage.gap_ahead'"
        " AND payload->>'from' = $1 ORDER BY created_at, id",
        _text(after),
    )
    assert [json.loads(r["payload"])["to"] for r in told] == [
        _text(later + timedelta(hours=14)),
        None,
    ]
    # The shift before it goes too: the gap is now part of D1's, under way for two days.
    await admin.ok("DELETE", f"/v1/shifts/{first['id']}", status=204)
    await alerts.look_ahead(state, now=later)
    assert len(await closed()) == 1


async def test_a_gap_told_to_end_past_the_days_looked_ahead_is_judged_to_its_end(
    admin: Api, app: FastAPI, db: asyncpg.Connection
) -> None:
    """D1's gap from 10 h to 30 h is told (a day looked ahead, its end followed past it); a
    shift covers 10 h to 26 h. The look judged it by its first day only and told it
    closed, covered, with 26 h to 30 h still a gap (review): it stays as told."""
    now, _ = await _agency(admin)
    state: AppState = app.state.cit
    await _roster_1a1(admin, now + timedelta(hours=30), now + timedelta(hours=38))
    await alerts.look_ahead(state, now=now)
    told = await db.fetch(
        "SELECT payload FROM event WHERE type = 'coverage.gap_ahead' AND payload->>'from' = $1",
        _text(now + timedelta(hours=10)),
    )
    assert [json.loads(r["payload"])["to"] for r in told] == [_text(now + timedelta(hours=30))]
    await _roster_1a1(admin, now + timedelta(hours=10), now + timedelta(hours=26))
    await alerts.look_ahead(state, now=now)
    closed = "SELECT count(*) FROM event WHERE type = 'coverage.gap_closed'"
    assert await db.fetchval(closed) == 0
    # Covered to its end, it is closed.
    await _roster_1a1(admin, now + timedelta(hours=26), now + timedelta(hours=30))
    await alerts.look_ahead(state, now=now)
    assert await db.fetchval(closed) == 1


async def test_a_gap_told_when_more_days_were_looked_ahead_is_not_closed_short(
    admin: Api, app: FastAPI, db: asyncpg.Connection
) -> None:
    """Told with 30 days looked ahead to end in 60 days; the policy looks 1 day ahead now,
    and shifts cover the gap as far as that look reaches (a day and 31 more): judged to
    there alone, it was told closed with weeks of it still a gap (third review). Covered
    to its end, it is closed."""
    now, _ = await _agency(admin)
    state: AppState = app.state.cit
    await _roster_1a1(admin, now + timedelta(days=60), now + timedelta(days=60, hours=8))
    policy = await admin.ok("GET", "/v1/policy")
    del policy["created_at"]
    await admin.ok("PUT", "/v1/policy", {**policy, "coverage_alert_days": 30})
    await alerts.look_ahead(state, now=now)
    await admin.ok("PUT", "/v1/policy", {**policy, "coverage_alert_days": 1})
    start = now + timedelta(hours=10)
    while start < now + timedelta(days=33):
        await _roster_1a1(admin, start, start + timedelta(hours=24))
        start += timedelta(hours=24)
    await alerts.look_ahead(state, now=now)
    closed = "SELECT count(*) FROM event WHERE type = 'coverage.gap_closed'"
    assert await db.fetchval(closed) == 0
    # Covered to its told end, it is closed: judged to that end, not skipped (fourth review:
    # skipped while past the look's reach, it left the look's window still told).
    while start < now + timedelta(days=60):
        await _roster_1a1(admin, start, min(start + timedelta(hours=24), now + timedelta(days=60)))
        start += timedelta(hours=24)
    await alerts.look_ahead(state, now=now)
    assert await db.fetchval(closed) == 1


async def test_two_looks_at_one_agency_take_turns(
    admin: Api, app: FastAPI, db: asyncpg.Connection
) -> None:
    """Two instances looking at once each read the roster, then the alerts told: one that
    read the roster before a shift was added told again the gap the other had just closed
    (review). A look waits for the one under way: it holds the agency's look lock, taken
    before it reads the roster."""
    now, _ = await _agency(admin)
    state: AppState = app.state.cit
    async with db.transaction():
        await db.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))", LOOKS_LOCK, str(admin.agency_id)
        )
        look = asyncio.create_task(alerts.look_ahead(state, now=now))
        await asyncio.sleep(0.5)
        assert not look.done()
    assert await asyncio.wait_for(look, timeout=10) == 7


def _text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def _roster_1a1(admin: Api, starts: datetime, ends: datetime) -> None:
    """Another shift in D1 for _agency's 1A1."""
    roster = (await admin.ok("GET", "/v1/officers?limit=500"))["items"]
    [officer] = [o["id"] for o in roster if o["badge_number"] == "1A1"]
    await add_shift(
        admin, "officer", officer, call_sign="1A1", district="D1", starts_at=starts, ends_at=ends
    )


async def test_a_nearer_threshold_sends_again_and_zero_days_turns_gaps_off(
    admin: Api, app: FastAPI, db: asyncpg.Connection
) -> None:
    now, _ = await _agency(admin)
    state: AppState = app.state.cit
    assert await alerts.look_ahead(state, now=now) == 7
    # Three weeks on, 4A1's certification is 4 days from its end: the 7-day alert. And
    # 1A1 is on shift in D1 then, until 2 h later: a CIT gap there starts within a day.
    later = now + timedelta(days=21)
    await _roster_1a1(admin, later - timedelta(hours=1), later + timedelta(hours=2))
    policy = await admin.ok("GET", "/v1/policy")
    del policy["created_at"]
    await admin.ok("PUT", "/v1/policy", {**policy, "coverage_alert_days": 0})
    assert await alerts.look_ahead(state, now=later) == 1
    assert await alerts.look_ahead(state, now=later) == 0
    gaps = "SELECT count(*) FROM event WHERE type = 'coverage.gap_ahead'"
    told = await db.fetchval(gaps)
    # Zero days kept that gap quiet: a day looked ahead tells it.
    await admin.ok("PUT", "/v1/policy", {**policy, "coverage_alert_days": 1})
    assert await alerts.look_ahead(state, now=later) == 1
    assert await db.fetchval(gaps) == told + 1
    district = "SELECT payload->>'district' FROM event WHERE type = 'coverage.gap_ahead'"
    assert await db.fetchval(district + " ORDER BY created_at DESC, id DESC LIMIT 1") == "D1"


async def test_a_gap_that_begins_unforetold_is_told_once_and_one_foretold_is_not_told_again(
    admin: Api, app: FastAPI, db: asyncpg.Connection
) -> None:
    """3A1, on shift in D3 until 6 h from now, is sent home: D3's CIT gap, told ahead to
    start then, has begun now. The coordinator hears of it at the next look, once, from
    when it began, and that the gap foretold is closed (it is the one begun now: two
    overlapping gaps were left told, from the coordinator's check); when the time the gap
    was foretold for comes, nothing more is said."""
    now, _ = await _agency(admin)
    state: AppState = app.state.cit
    assert await alerts.look_ahead(state, now=now) == 7
    [shift] = (await admin.ok("GET", "/v1/shifts?district=D3"))["items"]
    foretold = datetime.fromisoformat(shift["ends_at"])
    sent_home = datetime.now(UTC) + timedelta(seconds=1)
    await admin.ok("PATCH", f"/v1/shifts/{shift['id']}", {"ends_at": sent_home.isoformat()})
    seen = sent_home + timedelta(minutes=10)
    assert await alerts.look_ahead(state, now=seen) == 2
    assert await alerts.look_ahead(state, now=seen + timedelta(minutes=10)) == 0
    rows = await db.fetch(
        "SELECT payload FROM event WHERE type = 'coverage.gap_ahead'"
        " AND payload->>'district' = 'D3' ORDER BY created_at, id"
    )
    first, begun = (json.loads(r["payload"]) for r in rows)
    assert (first["under_way"], datetime.fromisoformat(first["from"])) == (False, foretold)
    assert (begun["under_way"], datetime.fromisoformat(begun["from"])) == (True, sent_home)
    assert (begun["to"], begun["kind"]) == (None, "cit")
    [closed] = await db.fetch("SELECT payload FROM event WHERE type = 'coverage.gap_closed'")
    assert json.loads(closed["payload"]) == {
        "district": "D3",
        "kind": "cit",
        "from": first["from"],
        "to": first["to"],
        "part_of": begun["from"],
    }
    # The hour D3's gap was foretold for: nothing more. D4's, foretold for the same hour
    # (4A1's shift ends then), begins as told: not told again either.
    assert await alerts.look_ahead(state, now=foretold + timedelta(minutes=5)) == 0


async def test_a_gap_under_way_since_before_its_district_is_told_from_it_once(
    admin: Api, app: FastAPI, db: asyncpg.Connection
) -> None:
    """An agency writes up its first day: D1's CIT officer went home an hour before D1 was
    made, and is back in 4 h for a day. The gap under way is told from when D1 was made. It was told
    from the hour before, and then, once a new district with nobody on its roster made a
    look read when districts were made, told again from D1's making, with the first told
    closed: one gap, told twice and closed once, nothing on the roster changed (the
    coordinator's check, on the demo)."""
    await admin.ok("POST", "/v1/districts", {"code": "D1", "name": "NW"}, 201)
    await _a_day_ahead_cit_only(admin)
    now = datetime.now(UTC)
    await admin.ok(
        "POST",
        "/v1/officers",
        {"state_officer_id": "S-1A1", "badge_number": "1A1", "name": "Officer 1A1"},
        201,
    )
    await certify(
        admin,
        "S-1A1",
        number="C-1A1",
        certified_on=now.date() - timedelta(days=100),
        expires_on=now.date() + timedelta(days=400),
    )
    await _roster_1a1(admin, now - timedelta(hours=23), now - timedelta(hours=1))
    await _roster_1a1(admin, now + timedelta(hours=4), now + timedelta(hours=28))
    made = await db.fetchval(
        "SELECT created_at FROM district WHERE agency_id = $1 AND code = 'D1'", admin.agency_id
    )
    state: AppState = app.state.cit
    assert await alerts.look_ahead(state, now=now) == 1
    await admin.ok("POST", "/v1/districts", {"code": "D2", "name": "NE"}, 201)
    assert await alerts.look_ahead(state, now=now + timedelta(minutes=10)) == 1
    rows = await db.fetch(
        "SELECT type, payload FROM event WHERE type LIKE 'coverage.gap_%' ORDER BY created_at, id"
    )
    told = [(r["type"], json.loads(r["payload"])) for r in rows]
    assert [(kind, p["district"]) for kind, p in told] == [
        ("coverage.gap_ahead", "D1"),
        ("coverage.gap_ahead", "D2"),
    ]
    d1 = told[0][1]
    assert (d1["under_way"], _at(d1["from"]), _at(d1["to"])) == (
        True,
        made,
        now + timedelta(hours=4),
    )
