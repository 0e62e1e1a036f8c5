"""PATCH and DELETE /v1/shifts/{id}: a roster corrected, a shift ended early, one cancelled."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from tests.helpers import (
    Api,
    add_officer,
    add_shift,
    add_unrostered_co_responder,
    grid_districts,
    iso,
    until_waiting_on_locks,
)


def _units(call: dict[str, Any]) -> dict[str, str]:
    return {u["call_sign"]: u["role"] for u in call["recommendation"]["units"]}


async def _only_shift(api: Api, responder_id: str) -> Any:
    items = (await api.ok("GET", "/v1/shifts"))["items"]
    [shift] = [s for s in items if s["responder_id"] == responder_id]
    return shift


async def _clinician(
    api: Api,
    call_sign: str,
    *windows: tuple[datetime, datetime],
    also_covers: list[str] | None = None,
) -> tuple[str, list[dict[str, Any]]]:
    """A co-responder with a shift in D1 (of a 2 x 2 grid) for each window: its id, and
    the shifts in order."""
    await grid_districts(api)
    co = await add_unrostered_co_responder(api, f"Clinician {call_sign}")
    for starts_at, ends_at in windows:
        await add_shift(
            api,
            "co_responder",
            co,
            call_sign=call_sign,
            district="D1",
            also_covers=also_covers,
            starts_at=starts_at,
            ends_at=ends_at,
        )
    listed = (await api.ok("GET", "/v1/shifts"))["items"]
    return co, sorted(listed, key=lambda s: s["starts_at"])


async def _next_week(api: Api, call_sign: str) -> tuple[str, datetime, list[dict[str, Any]]]:
    """A co-responder with shifts in D1 on two days a week from now: its id, the first
    shift's start, the shifts in order."""
    week = datetime.now(UTC).replace(microsecond=0) + timedelta(days=7)
    day, hours = timedelta(days=1), timedelta(hours=8)
    co, shifts = await _clinician(
        api, call_sign, (week, week + hours), (week + day, week + day + hours)
    )
    return co, week, shifts


async def _trail(api: Api, action: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await api.ok("GET", f"/v1/audit?action={action}"))["items"]
    return items


async def test_a_clinician_sent_home_mid_shift_leaves_the_consoles_and_the_next_call(
    admin: Api,
) -> None:
    # 3 a.m.: the mental-health unit goes home sick. Without a way to end its shift, every
    # call in D1 was still recommended to it until its shift ran out.
    now = datetime.now(UTC)
    co, [shift] = await _clinician(
        admin, "MCT-1", (now - timedelta(hours=3), now + timedelta(hours=5))
    )
    first = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    assert _units(first) == {"MCT-1": "lead"}

    supervisor = await admin.with_role("supervisor")
    ended = await supervisor.ok(
        "PATCH", f"/v1/shifts/{shift['id']}", {"ends_at": iso(datetime.now(UTC))}
    )
    assert datetime.fromisoformat(ended["ends_at"]) <= datetime.now(UTC)
    assert ended["starts_at"] == shift["starts_at"]
    assert (await admin.ok("GET", "/v1/units"))["items"] == []
    second = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    assert "MCT-1" not in _units(second)
    [entry] = await _trail(admin, "shift.update")
    assert (entry["resource_id"], entry["role"]) == (shift["id"], "supervisor")
    assert entry["detail"] == {
        "changed": {"ends_at": {"from": shift["ends_at"], "to": ended["ends_at"]}}
    }

    # Now it has ended, it is the record of who worked: no further change.
    again = await admin.patch(
        f"/v1/shifts/{shift['id']}", {"ends_at": iso(now + timedelta(hours=1))}
    )
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert (await _only_shift(admin, co))["ends_at"] == ended["ends_at"]


async def test_a_started_shift_keeps_its_start_and_cannot_end_in_the_past(admin: Api) -> None:
    now = datetime.now(UTC)
    co, [shift] = await _clinician(
        admin, "MCT-2", (now - timedelta(hours=2), now + timedelta(hours=2))
    )
    path = f"/v1/shifts/{shift['id']}"
    # What it was stays as worked: the coverage reports read the hours already worked.
    for change in (
        {"starts_at": iso(now - timedelta(hours=1))},
        {"district": "D2"},
        {"also_covers": ["D2"]},
        {"call_sign": "MCT-9"},
    ):
        moved = await admin.patch(path, change)
        assert moved.status_code == 409, change
        assert "schedule a new one" in moved.json()["detail"]
    # Its own values again change nothing, and are no conflict.
    assert (
        await admin.ok("PATCH", path, {"district": "D1", "starts_at": shift["starts_at"]}) == shift
    )
    past = await admin.patch(path, {"ends_at": iso(now - timedelta(hours=1))})
    assert past.status_code == 422
    assert past.json()["errors"][0]["loc"] == ["body", "ends_at"]
    too_long = await admin.patch(path, {"ends_at": iso(now + timedelta(hours=23))})
    assert too_long.status_code == 422
    started = await admin.delete(path)
    assert started.status_code == 409
    assert "PATCH" in started.json()["detail"]
    assert await _only_shift(admin, co) == shift
    # Later is fine: a double shift, within 24 hours.
    longer = await admin.ok("PATCH", path, {"ends_at": iso(now + timedelta(hours=6))})
    assert longer["ends_at"] == iso(now + timedelta(hours=6)).replace("+00:00", "Z")


async def test_a_unit_moved_mid_shift_is_ended_here_and_scheduled_there(admin: Api) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    co, [shift] = await _clinician(
        admin, "MCT-3", (now - timedelta(hours=1), now + timedelta(hours=7)), also_covers=["D3"]
    )
    await admin.ok("PUT", f"/v1/co-responders/{co}/status", {"status": "en_route"})
    await admin.ok("PATCH", f"/v1/shifts/{shift['id']}", {"ends_at": iso(now)})
    await add_shift(
        admin,
        "co_responder",
        co,
        call_sign="MCT-4",
        district="D4",
        starts_at=now,
        ends_at=now + timedelta(hours=7),
    )
    [unit] = (await admin.ok("GET", "/v1/units?district=D4"))["items"]
    assert (unit["call_sign"], unit["status"], unit["district"]) == ("MCT-4", "en_route", "D4")
    assert (await admin.ok("GET", "/v1/units?district=D3"))["items"] == []
    await admin.ok("PUT", f"/v1/co-responders/{co}/status", {"status": "available"})
    assert _units(await admin.ok("POST", "/v1/calls", {"district": "D4"}, 201)) == {"MCT-4": "lead"}
    assert "MCT-3" not in _units(await admin.ok("POST", "/v1/calls", {"district": "D3"}, 201))


async def test_a_unit_sent_home_is_not_dispatched_from_the_recommendation_made_before(
    admin: Api,
) -> None:
    # The call was recommended to the clinician; its shift was then ended; dispatching the
    # recommendation still sent it (outside-in check).
    now = datetime.now(UTC)
    co, [shift] = await _clinician(
        admin, "MCT-9", (now - timedelta(hours=2), now + timedelta(hours=6))
    )
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    assert _units(call) == {"MCT-9": "lead"}
    await admin.ok("PATCH", f"/v1/shifts/{shift['id']}", {"ends_at": iso(datetime.now(UTC))})
    stale = await admin.post(f"/v1/calls/{call['id']}/dispatch")
    assert stale.status_code == 409
    assert [u["responder_id"] for u in stale.json()["unavailable_units"]] == [co]
    assert "MCT-9" not in _units(stale.json())
    # A dispatcher who calls it back in may still send it, saying why.
    back = {
        "units": [{"responder_type": "co_responder", "responder_id": co, "role": "lead"}],
        "override_reason": "called back in for this call",
    }
    sent = await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch", back)
    assert [a["responder_id"] for a in sent["assignments"]] == [co]


async def test_a_unit_sent_home_may_be_named_as_recommended_saying_why(admin: Api) -> None:
    # The recommendation still names it; the dispatcher names it too, with a reason: sent
    # (the review of the dispatch that keeps what a dispatcher says as recommended).
    now = datetime.now(UTC)
    co, [shift] = await _clinician(
        admin, "MCT-9", (now - timedelta(hours=2), now + timedelta(hours=6))
    )
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    await admin.ok("PATCH", f"/v1/shifts/{shift['id']}", {"ends_at": iso(datetime.now(UTC))})
    named = [
        {key: u[key] for key in ("responder_type", "responder_id", "role")}
        for u in call["recommendation"]["units"]
    ]
    assert named == [{"responder_type": "co_responder", "responder_id": co, "role": "lead"}]
    # Straight away: a refused dispatch would store a fresh recommendation without it.
    path = f"/v1/calls/{call['id']}/dispatch"
    sent = await admin.ok("POST", path, {"units": named, "override_reason": "called back in"})
    assert [a["responder_id"] for a in sent["assignments"]] == [co]
    assert sent["dispatches"][-1]["override_reason"] == "called back in"


async def test_a_unit_on_a_call_whose_shift_is_ended_stays_listed_until_released(
    admin: Api,
) -> None:
    # Sent home while on scene: it finishes the call first, and the consoles still see it.
    now = datetime.now(UTC)
    _, [shift] = await _clinician(
        admin, "MCT-8", (now - timedelta(hours=2), now + timedelta(hours=6))
    )
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    await admin.ok("PATCH", f"/v1/shifts/{shift['id']}", {"ends_at": iso(datetime.now(UTC))})
    [unit] = (await admin.ok("GET", "/v1/units"))["items"]
    assert (unit["call_sign"], unit["active_call_id"]) == ("MCT-8", call["id"])
    assert "MCT-8" not in _units(await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201))
    await admin.ok("POST", f"/v1/calls/{call['id']}/clear", {"disposition": "done"})
    assert (await admin.ok("GET", "/v1/units"))["items"] == []


async def test_a_shift_not_yet_started_can_be_corrected_or_cancelled(
    admin: Api, db: asyncpg.Connection
) -> None:
    co, week, shifts = await _next_week(admin, "MCT-5")
    path = f"/v1/shifts/{shifts[0]['id']}"
    body = {
        "starts_at": iso(week + timedelta(hours=2)),
        "ends_at": iso(week + timedelta(hours=10)),
        "also_covers": ["D2", "D3"],
    }
    moved = await admin.ok("PATCH", path, body)
    assert (moved["district"], moved["also_covers"]) == ("D1", ["D2", "D3"])
    assert datetime.fromisoformat(moved["starts_at"]) == week + timedelta(hours=2)
    listed = await admin.ok(
        "GET", f"/v1/shifts?district=D3&at={iso(week + timedelta(hours=3)).replace('+00:00', 'Z')}"
    )
    assert [s["id"] for s in listed["items"]] == [shifts[0]["id"]]
    [entry] = await _trail(admin, "shift.update")
    assert entry["detail"]["changed"]["also_covers"] == {"from": [], "to": ["D2", "D3"]}
    assert sorted(entry["detail"]["changed"]) == ["also_covers", "ends_at", "starts_at"]

    # What would make no sense changes nothing.
    coverage = "SELECT count(*) FROM shift_coverage WHERE shift_id = $1"
    before = (
        (await admin.ok("GET", "/v1/shifts"))["items"],
        await db.fetchval(coverage, moved["id"]),
    )
    refused = [
        ({"ends_at": iso(week + timedelta(days=1, hours=1))}, 409),  # overlaps the next one
        ({"district": "D9"}, 422),
        ({"also_covers": ["D1"]}, 422),
        ({"also_covers": ["D2", "D2"]}, 422),
        ({"call_sign": None}, 422),
        ({"responder_id": co}, 422),
        ({"starts_at": iso(week + timedelta(hours=11))}, 422),  # after its end
        # Into the past: a record of who worked that no one worked, and no undoing it.
        (
            {
                "starts_at": iso(week - timedelta(days=8)),
                "ends_at": iso(week - timedelta(days=8) + timedelta(hours=8)),
            },
            422,
        ),
    ]
    for change, status in refused:
        response = await admin.patch(path, change)
        assert response.status_code == status, change
        assert response.headers["content-type"] == "application/problem+json"
        if status == 409:  # it names the shift it would overlap
            assert response.json()["shift_id"] == shifts[1]["id"], response.text
    assert await db.fetchval(coverage, moved["id"]) == before[1] == 3
    assert (await admin.ok("GET", "/v1/shifts"))["items"] == before[0]

    # Cancelled: gone, and the trail keeps what it was.
    assert (await admin.delete(path)).status_code == 204
    assert [s["id"] for s in (await admin.ok("GET", "/v1/shifts"))["items"]] == [shifts[1]["id"]]
    assert await db.fetchval(coverage, moved["id"]) == 0
    [cancelled] = await _trail(admin, "shift.delete")
    assert cancelled["resource_id"] == moved["id"]
    assert cancelled["detail"]["call_sign"] == "MCT-5"
    assert cancelled["detail"]["also_covers"] == ["D2", "D3"]
    assert (await admin.delete(path)).status_code == 404
    assert (await admin.patch(path, {"call_sign": "X"})).status_code == 404


async def test_a_status_reported_while_the_shift_changes_is_what_the_consoles_show(
    admin: Api, db: asyncpg.Connection
) -> None:
    # A district added to a shift gets a coverage row that reads the unit's state as it is
    # added. A status report made before that change committed updated only the rows it
    # saw: the new row kept the status before the report. (A change to the shift's own
    # row locks the unit's row, in the overlap trigger; one to the districts it also
    # covers alone did not.) Here the change is held just before its commit (its audit
    # entry waits on a lock the test holds) while the report is made.
    co, _, [shift, _] = await _next_week(admin, "MCT-6")
    async with db.transaction():
        await db.execute("LOCK TABLE audit_entry IN SHARE MODE")
        change = asyncio.create_task(
            admin.patch(f"/v1/shifts/{shift['id']}", {"also_covers": ["D2"]})
        )
        await until_waiting_on_locks(db, 1)
        report = asyncio.create_task(
            admin.put(f"/v1/co-responders/{co}/status", {"status": "on_scene"})
        )
        await until_waiting_on_locks(db, 2)
    assert (await change).status_code == 200
    assert (await report).status_code == 200
    # The rows the candidate query and the consoles will read when the shift starts.
    rows = await db.fetch(
        "SELECT d.code, c.status FROM shift_coverage c JOIN district d ON d.id = c.district_id"
        " WHERE c.shift_id = $1 ORDER BY d.code",
        uuid.UUID(shift["id"]),
    )
    assert [(r["code"], r["status"]) for r in rows] == [("D1", "on_scene"), ("D2", "on_scene")]


async def test_changes_to_two_shifts_of_one_unit_at_once_both_land(admin: Api) -> None:
    # Each change locks the unit's row; locked for share first, two such changes
    # deadlocked when the overlap check came to lock it for update (a 503 to retry).
    _, _, shifts = await _next_week(admin, "MCT-7")
    ids = [s["id"] for s in shifts]
    for round_ in range(8):
        answers = await asyncio.gather(
            *(
                admin.patch(f"/v1/shifts/{shift_id}", {"call_sign": f"MCT-R{round_}"})
                for shift_id in ids
            )
        )
        assert [a.status_code for a in answers] == [200, 200], round_
    listed = (await admin.ok("GET", "/v1/shifts"))["items"]
    assert {s["call_sign"] for s in listed} == {"MCT-R7"}


@pytest.mark.parametrize("kind", ["officer", "co_responder"])
async def test_a_unit_leaving_while_its_shift_is_changed_neither_deadlocks_nor_loses_either(
    admin: Api, db: asyncpg.Connection, kind: str
) -> None:
    """A deactivation ends the shift under way (app/services/roster.py): it takes the
    shift's lock before the unit's, as a change to the shift does, so the two wait for each
    other rather than deadlock (a 503)."""
    await grid_districts(admin)
    for round_ in range(6):
        if kind == "officer":
            unit = await add_officer(admin, district="D1", call_sign=f"1A{round_}")
            path = f"/v1/officers/{unit}"
        else:
            unit = await add_unrostered_co_responder(admin, f"Clinician {round_}")
            now = datetime.now(UTC)
            await add_shift(
                admin,
                "co_responder",
                unit,
                call_sign=f"MCT-{round_}",
                district="D1",
                starts_at=now - timedelta(hours=3),
                ends_at=now + timedelta(hours=5),
            )
            path = f"/v1/co-responders/{unit}"
        shift_id, first_sign = await db.fetchrow(
            "SELECT id, call_sign FROM shift WHERE responder_id = $1", uuid.UUID(unit)
        )
        change, leave = await asyncio.gather(
            admin.patch(f"/v1/shifts/{shift_id}", {"call_sign": f"MCT-R{round_}"}),
            admin.patch(path, {"active": False}),
        )
        assert leave.status_code == 200, (round_, leave.text)
        # Changed first, then ended; or ended first, and then a change is too late.
        assert change.status_code in (200, 409), (round_, change.text)
        sign = await db.fetchval("SELECT call_sign FROM shift WHERE id = $1", shift_id)
        assert sign == (f"MCT-R{round_}" if change.status_code == 200 else first_sign), round_
        ended = await db.fetchval("SELECT ends_at FROM shift WHERE id = $1", shift_id)
        assert ended <= datetime.now(UTC)
        rows = await db.fetch("SELECT ends_at FROM shift_coverage WHERE shift_id = $1", shift_id)
        assert [r["ends_at"] for r in rows] == [ended]


@pytest.mark.parametrize("kind", ["officer", "co_responder"])
async def test_a_shift_created_while_its_unit_leaves_is_refused_or_ended_with_it(
    admin: Api, db: asyncpg.Connection, kind: str
) -> None:
    """Both answered 200 and 201, and the unit left the agency with a shift running (a
    review: 25 of 25 rounds): it stayed on the roster, and back on that shift if made
    active again. Either the shift comes first and the separation ends it, or the
    separation does and the shift is refused."""
    await grid_districts(admin)
    for round_ in range(8):
        if kind == "officer":
            body = {
                "state_officer_id": f"RACE-{round_}",
                "badge_number": f"R-{round_}",
                "name": f"Officer {round_}",
            }
            unit = (await admin.ok("POST", "/v1/officers", body, 201))["id"]
            path = f"/v1/officers/{unit}"
        else:
            unit = await add_unrostered_co_responder(admin, f"Clinician {round_}")
            path = f"/v1/co-responders/{unit}"
        now = datetime.now(UTC)
        shift = {
            "responder_type": kind,
            "responder_id": unit,
            "call_sign": f"R-{round_}",
            "district": "D1",
            "starts_at": iso(now - timedelta(minutes=5)),
            "ends_at": iso(now + timedelta(hours=8)),
        }
        made, leave = await asyncio.gather(
            admin.post("/v1/shifts", shift), admin.patch(path, {"active": False})
        )
        assert leave.status_code == 200, (round_, leave.text)
        assert made.status_code in (201, 422), (round_, made.text)
        running = await db.fetchval(
            "SELECT count(*) FROM shift WHERE responder_id = $1 AND ends_at > now()",
            uuid.UUID(unit),
        )
        assert running == 0, (round_, made.status_code)
        if made.status_code == 422:
            assert "not active" in made.text, made.text


async def test_a_shift_entered_after_it_ended_can_be_corrected_or_cancelled(
    admin: Api,
) -> None:
    """A past shift typed with the wrong month gave coverage nobody worked, for good: it
    could be neither changed nor cancelled (from the outside-in check). Entered after it
    ended, no dispatch ever read it: it is corrected as entered. One entered before its
    end, and ended since, stays the record of who worked."""
    now = datetime.now(UTC).replace(microsecond=0)
    mistyped = (now - timedelta(days=180), now - timedelta(days=180) + timedelta(hours=8))
    co, [wrong] = await _clinician(admin, "MCT-9", mistyped)
    moved = await admin.ok(
        "PATCH",
        f"/v1/shifts/{wrong['id']}",
        {
            "district": "D2",
            "starts_at": iso(now - timedelta(days=30)),
            "ends_at": iso(now - timedelta(days=30) + timedelta(hours=8)),
        },
    )
    assert moved["district"] == "D2"
    assert datetime.fromisoformat(moved["starts_at"]) == now - timedelta(days=30)
    assert (await admin.delete(f"/v1/shifts/{wrong['id']}")).status_code == 204
    assert (await admin.ok("GET", "/v1/shifts"))["items"] == []
    assert [e["action"] for e in (await admin.ok("GET", "/v1/audit"))["items"][:2]] == [
        "shift.delete",
        "shift.update",
    ]
    # Worked from, then ended: the record stays, and the 409 says so.
    await add_shift(
        admin,
        "co_responder",
        co,
        call_sign="MCT-9",
        district="D1",
        starts_at=now - timedelta(hours=2),
        ends_at=now + timedelta(hours=6),
    )
    [worked] = (await admin.ok("GET", "/v1/shifts"))["items"]
    await admin.ok("PATCH", f"/v1/shifts/{worked['id']}", {"ends_at": iso(datetime.now(UTC))})
    kept = await admin.delete(f"/v1/shifts/{worked['id']}")
    assert kept.status_code == 409
    assert kept.json()["detail"] == "the shift has ended: it stays as the record of who worked"
    refused = await admin.patch(f"/v1/shifts/{worked['id']}", {"district": "D2"})
    assert refused.status_code == 409


async def test_a_shift_entered_a_moment_ago_and_ended_in_the_minute_before_stays_the_record(
    admin: Api,
) -> None:
    """A started shift may be told to have ended up to a minute ago; ended before it was
    entered, it passed for one entered after it ended, and could be moved or cancelled
    (from the review of today's change)."""
    now = datetime.now(UTC)
    _, [shift] = await _clinician(
        admin, "MCT-8", (now - timedelta(hours=1), now + timedelta(hours=7))
    )
    ended = await admin.ok(
        "PATCH", f"/v1/shifts/{shift['id']}", {"ends_at": iso(now - timedelta(seconds=30))}
    )
    assert datetime.fromisoformat(ended["ends_at"]) < now
    assert (await admin.delete(f"/v1/shifts/{shift['id']}")).status_code == 409
    assert (await admin.patch(f"/v1/shifts/{shift['id']}", {"district": "D2"})).status_code == 409


async def test_a_started_shift_handed_to_another_is_told_a_way_that_works(admin: Api) -> None:
    """3 a.m.: a clinician goes home sick mid-shift and a coordinator hands the shift to
    another by PATCH (`responder_id`). The 422 said to cancel it (DELETE) and make one for
    the other: a started shift's DELETE is a 409. It says to end one that has begun (PATCH
    its ends_at), and doing as it says hands the rest of the shift over."""
    now = datetime.now(UTC).replace(microsecond=0)
    _, [shift] = await _clinician(
        admin, "MCT-1", (now - timedelta(hours=3), now + timedelta(hours=5))
    )
    other = await add_unrostered_co_responder(admin, "Clinician MCT-2")
    path = f"/v1/shifts/{shift['id']}"
    handed = await admin.patch(path, {"responder_id": other})
    assert handed.status_code == 422, handed.text
    told = handed.json()["errors"][0]["msg"]
    assert "POST /v1/shifts" in told
    assert "PATCH its ends_at" in told, told
    assert (await admin.delete(path)).status_code == 409  # begun: not cancelled
    await admin.ok("PATCH", path, {"ends_at": iso(now)})
    await add_shift(
        admin,
        "co_responder",
        other,
        call_sign="MCT-2",
        district="D1",
        starts_at=now,
        ends_at=now + timedelta(hours=5),
    )
    [unit] = (await admin.ok("GET", "/v1/units?district=D1"))["items"]
    assert (unit["responder_id"], unit["call_sign"]) == (other, "MCT-2")
