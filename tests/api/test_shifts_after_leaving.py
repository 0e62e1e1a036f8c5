"""A roster written up after an officer left: the shifts they worked, and only those.

A coordinator writing up last month's roster late got a 422 "not active" for every shift
of an officer who had left since, and the coverage report showed CIT gaps where the
officer had worked. A shift within the period the officer last served is taken; one
reaching past their leaving (current or ahead included), or before that period, is not,
and none ever puts them back on the consoles or among a call's candidates.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from tests.helpers import Api, add_unrostered_co_responder, certify, grid_districts, iso

DAY = timedelta(days=1)
WATCH = timedelta(hours=8)


def _z(moment: datetime) -> str:
    """An instant as the answers write it."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _shift(officer: str, starts_at: datetime, ends_at: datetime, **kw: Any) -> dict[str, Any]:
    return {
        "responder_type": "officer",
        "responder_id": officer,
        "call_sign": "1P",
        "district": "D1",
        "starts_at": iso(starts_at),
        "ends_at": iso(ends_at),
        **kw,
    }


async def _officer(api: Api, sign: str = "P") -> str:
    """A CIT officer (certified from 100 days ago, for a year), on no shift."""
    sid = f"STATE-{sign}"
    body = {"state_officer_id": sid, "badge_number": sign, "name": f"Officer {sign}"}
    officer = await api.ok("POST", "/v1/officers", body, 201)
    today = datetime.now(UTC).date()
    await certify(
        api,
        sid,
        number=f"CIT-{sign}",
        certified_on=today - 100 * DAY,
        expires_on=today + 265 * DAY,
    )
    return str(officer["id"])


async def _separate(
    api: Api, db: asyncpg.Connection, officer: str, *, left: datetime, since: datetime | None
) -> None:
    """Record the officer's separation, dated left; hired at since, if given, and serving
    from then on (the service dates both now: a test cannot wait for weeks to pass)."""
    await api.ok("PATCH", f"/v1/officers/{officer}", {"active": False})
    await db.execute(
        "UPDATE officer SET separated_at = $2, active_since = coalesce($3, active_since),"
        " serving_since = coalesce($3, serving_since) WHERE id = $1",
        uuid.UUID(officer),
        left,
        since,
    )


async def _departed(api: Api, db: asyncpg.Connection) -> tuple[str, datetime, datetime]:
    """A CIT officer who served from 60 days ago until 10 days ago: id, start, leaving."""
    await grid_districts(api)
    officer = await _officer(api)
    now = datetime.now(UTC).replace(microsecond=0)
    since, left = now - 60 * DAY, now - 10 * DAY
    await _separate(api, db, officer, left=left, since=since)
    return officer, since, left


async def _cit_covered(api: Api, district: str, starts: datetime, ends: datetime) -> float:
    query = f"from={iso(starts)}&to={iso(ends)}&district={district}".replace("+", "%2B")
    report = await api.ok("GET", f"/v1/coverage?{query}")
    return float(report["districts"][0]["cit_covered_pct"])


async def _shifts(api: Api) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await api.ok("GET", "/v1/shifts"))["items"]
    return items


async def test_a_shift_worked_before_the_officer_left_is_taken_and_counts_as_cit_coverage(
    admin: Api, db: asyncpg.Connection
) -> None:
    officer, since, left = await _departed(admin, db)
    worked = left - 20 * DAY
    assert await _cit_covered(admin, "D1", worked, worked + WATCH) == 0.0

    made = await admin.ok("POST", "/v1/shifts", _shift(officer, worked, worked + WATCH), 201)
    assert (made["responder_id"], made["starts_at"]) == (officer, _z(worked))
    listed = await admin.ok(
        "GET", f"/v1/shifts?from={iso(worked)}&to={iso(worked + WATCH)}".replace("+", "%2B")
    )
    assert [s["id"] for s in listed["items"]] == [made["id"]]
    assert await _cit_covered(admin, "D1", worked, worked + WATCH) == 100.0

    # The bulk form too, up to the very first and last instants of the period served.
    first, last = (since, since + WATCH), (left - WATCH, left)
    bulk = {"shifts": [_shift(officer, *first), _shift(officer, *last, also_covers=["D2"])]}
    await admin.ok("POST", "/v1/shifts/bulk", bulk, 201)
    assert await _cit_covered(admin, "D1", *first) == 100.0
    assert await _cit_covered(admin, "D2", *last) == 100.0
    assert len(await _shifts(admin)) == 3


@pytest.mark.parametrize(
    ("window", "field", "why"),
    [
        # (start, end) as days from the officer's leaving
        ((-0.2, 0.2), "ends_at", "left"),  # reaching past it
        ((9.9, 10.3), "ends_at", "left"),  # on now
        ((11, 11.3), "ends_at", "left"),  # tomorrow
        ((-50.1, -49.8), "starts_at", "began"),  # starting before the period served
    ],
)
async def test_a_shift_outside_the_period_the_officer_served_is_a_422_that_says_why(
    admin: Api,
    db: asyncpg.Connection,
    window: tuple[float, float],
    field: str,
    why: str,
) -> None:
    officer, since, left = await _departed(admin, db)
    starts, ends = (left + x * DAY for x in window)
    refused = await admin.post("/v1/shifts", _shift(officer, starts, ends))
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    expected = {
        "left": f"that officer is not active: they left on {_z(left)}, and a shift of theirs"
        " must end by then",
        "began": "that officer is not active, and their last period of service began on"
        f" {_z(since)}: a shift of theirs must start then or later",
    }[why]
    assert problem["detail"] == expected
    assert problem["errors"] == [{"loc": ["body", field], "msg": expected}]
    # In a bulk request, after a shift that would be taken: nothing is written.
    good = _shift(officer, left - 2 * DAY, left - 2 * DAY + WATCH)
    bulk = await admin.post("/v1/shifts/bulk", {"shifts": [good, _shift(officer, starts, ends)]})
    assert bulk.status_code == 422, bulk.text
    assert bulk.json()["errors"][0]["loc"] == ["body", "shifts", 1, field]
    assert await _shifts(admin) == []


async def test_a_period_of_service_not_on_record_keeps_every_shift_out(
    admin: Api, db: asyncpg.Connection
) -> None:
    """An officer away on leave and back resumes their post (active_since keeps its start):
    the leave is not service. A co-responder, and an officer created inactive, have no
    period on record: any shift is refused, as before."""
    await grid_districts(admin)
    officer = await _officer(admin)
    now = datetime.now(UTC).replace(microsecond=0)
    hired, away, back, left = (now - d * DAY for d in (60, 40, 20, 10))
    await _separate(admin, db, officer, left=away, since=hired)
    await admin.ok("PATCH", f"/v1/officers/{officer}", {"active": True})
    await db.execute(
        "UPDATE officer SET serving_since = $2 WHERE id = $1", uuid.UUID(officer), back
    )
    await _separate(admin, db, officer, left=left, since=None)
    post = await db.fetchval("SELECT active_since FROM officer WHERE id = $1", uuid.UUID(officer))
    assert post == hired  # the post resumed

    on_leave = await admin.post("/v1/shifts", _shift(officer, away + DAY, away + DAY + WATCH))
    assert on_leave.status_code == 422, on_leave.text
    assert f"began on {_z(back)}" in on_leave.json()["detail"]
    await admin.ok("POST", "/v1/shifts", _shift(officer, back + DAY, back + DAY + WATCH), 201)

    week_ago = now - 7 * DAY
    co = await add_unrostered_co_responder(admin, "Clinician C")
    await admin.ok("PATCH", f"/v1/co-responders/{co}", {"active": False})
    never = await admin.ok(
        "POST",
        "/v1/officers",
        {"state_officer_id": "STATE-N", "badge_number": "N", "name": "N", "active": False},
        201,
    )
    for kind, unit in (("co_responder", co), ("officer", never["id"])):
        body = {**_shift(unit, week_ago, week_ago + WATCH), "responder_type": kind}
        refused = await admin.post("/v1/shifts", body)
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"] == [
            {
                "loc": ["body", "responder_id"],
                "msg": f"that {kind} is not active, and when they last served is not on"
                " record: a shift can be entered for them only while they are active",
            }
        ]
    assert len(await _shifts(admin)) == 1


async def test_a_departed_officers_shift_is_never_moved_to_now_nor_makes_them_a_candidate(
    admin: Api, db: asyncpg.Connection
) -> None:
    """A shift entered after it ended may be corrected as entered, into any time for an
    active unit: moved to now, the officer who had left would have been back on the
    consoles' units list and in the coverage ahead."""
    officer, _, left = await _departed(admin, db)
    worked = left - 3 * DAY
    shift = await admin.ok("POST", "/v1/shifts", _shift(officer, worked, worked + WATCH), 201)
    now = datetime.now(UTC).replace(microsecond=0)
    for starts in (now - timedelta(hours=1), now + DAY):
        moved = await admin.patch(
            f"/v1/shifts/{shift['id']}",
            {"starts_at": iso(starts), "ends_at": iso(starts + WATCH)},
        )
        assert moved.status_code == 422, moved.text
        assert f"they left on {_z(left)}" in moved.json()["detail"]
    assert await _shifts(admin) == [shift]
    assert (await admin.ok("GET", "/v1/units"))["items"] == []
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "safety": {"weapon": True}}, 201)
    recommendation = call["recommendation"]
    assert officer not in {u["responder_id"] for u in recommendation["units"]}
    assert "no_cit_available" in {w["code"] for w in recommendation["warnings"]}
    assert await _cit_covered(admin, "D1", now, now + WATCH) == 0.0

    # Corrected within the period served, it counts where it now says.
    corrected = await admin.ok(
        "PATCH", f"/v1/shifts/{shift['id']}", {"district": "D3", "also_covers": ["D4"]}
    )
    assert (corrected["district"], corrected["also_covers"]) == ("D3", ["D4"])
    assert await _cit_covered(admin, "D4", worked, worked + WATCH) == 100.0
    assert await _cit_covered(admin, "D1", worked, worked + WATCH) == 0.0
    # And cancelled as entered in error, as any shift entered after it ended.
    assert (await admin.delete(f"/v1/shifts/{shift['id']}")).status_code == 204
    assert await _cit_covered(admin, "D4", worked, worked + WATCH) == 0.0


async def test_a_shift_ahead_kept_at_a_deactivation_may_change_while_it_stays_ahead(
    admin: Api, db: asyncpg.Connection
) -> None:
    """A shift ahead of an officer made inactive is kept (it counts again at a
    reactivation): its call sign and times could be corrected before, and must still be,
    though it may not be moved to now or before, nor make the officer a unit on shift."""
    await grid_districts(admin)
    officer = await _officer(admin)
    start = datetime.now(UTC).replace(microsecond=0) + 2 * DAY
    shift = await admin.ok("POST", "/v1/shifts", _shift(officer, start, start + WATCH), 201)
    await admin.ok("PATCH", f"/v1/officers/{officer}", {"active": False})
    moved = {"call_sign": "1Q", "starts_at": iso(start + DAY), "ends_at": iso(start + DAY + WATCH)}
    changed = await admin.ok("PATCH", f"/v1/shifts/{shift['id']}", moved)
    assert (changed["call_sign"], changed["starts_at"]) == ("1Q", _z(start + DAY))
    now = datetime.now(UTC)
    to_now = {"starts_at": iso(now - WATCH / 2), "ends_at": iso(now + WATCH / 2)}
    refused = await admin.patch(f"/v1/shifts/{shift['id']}", to_now)
    assert refused.status_code == 422, refused.text
    units = await admin.ok("GET", "/v1/units")
    assert officer not in {u["responder_id"] for u in units["items"]}


async def test_a_shift_kept_at_a_deactivation_that_has_started_since_may_still_be_ended(
    admin: Api, db: asyncpg.Connection
) -> None:
    """A shift kept at a deactivation that has started since could be neither ended (PATCH:
    422 'they left on ..., and a shift of theirs must end by then') nor cancelled (DELETE:
    409 'to end it early, PATCH its ends_at'): reactivated, the officer was on shift, on the
    consoles, until the end the coordinator could not change. Ending it is allowed, and only
    that: it may not be made longer, nor moved."""
    await grid_districts(admin)
    officer = await _officer(admin)
    start = datetime.now(UTC) + timedelta(seconds=2)
    shift = await admin.ok("POST", "/v1/shifts", _shift(officer, start, start + WATCH), 201)
    await admin.ok("PATCH", f"/v1/officers/{officer}", {"active": False})
    await asyncio.sleep((start - datetime.now(UTC)).total_seconds() + 0.5)
    longer = await admin.patch(f"/v1/shifts/{shift['id']}", {"ends_at": iso(start + 2 * WATCH)})
    assert longer.status_code == 422, longer.text
    now = datetime.now(UTC)
    ended = await admin.ok("PATCH", f"/v1/shifts/{shift['id']}", {"ends_at": iso(now)})
    assert ended["ends_at"] == _z(now)
    await admin.ok("PATCH", f"/v1/officers/{officer}", {"active": True})
    units = await admin.ok("GET", "/v1/units")
    assert officer not in {u["responder_id"] for u in units["items"]}
