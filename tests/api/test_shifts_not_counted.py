"""GET /v1/shifts tells which shifts do not count for coverage, and why.

A coordinator planning the weeks ahead read the shifts of an officer who had left like any
other: the coverage report showed a CIT gap there, and the shift list gave no sign of it.
Each shift now says whether it counts (`counts_for_coverage`) and, if not, why
(`not_counted`): its officer left, or its responder is not active.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from tests.helpers import Api, add_unrostered_co_responder, certify, grid_districts, iso

DAY = timedelta(days=1)
WATCH = timedelta(hours=8)


def _q(moment: datetime) -> str:
    """An instant for a query string."""
    return iso(moment).replace("+", "%2B")


async def _shift(api: Api, kind: str, unit: str, starts_at: datetime) -> str:
    body = {
        "responder_type": kind,
        "responder_id": unit,
        "call_sign": f"1{kind[0].upper()}",
        "district": "D1",
        "starts_at": iso(starts_at),
        "ends_at": iso(starts_at + WATCH),
    }
    return str((await api.ok("POST", "/v1/shifts", body, 201))["id"])


async def _listed(api: Api) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in (await api.ok("GET", "/v1/shifts"))["items"]}


async def test_a_departed_officers_shift_ahead_says_it_does_not_count_as_coverage_shows(
    admin: Api,
) -> None:
    await grid_districts(admin)
    body = {"state_officer_id": "STATE-P", "badge_number": "P", "name": "Officer P"}
    officer = str((await admin.ok("POST", "/v1/officers", body, 201))["id"])
    today = datetime.now(UTC).date()
    await certify(
        admin,
        "STATE-P",
        number="CIT-P",
        certified_on=today - 90 * DAY,
        expires_on=today + 300 * DAY,
    )
    co = await add_unrostered_co_responder(admin, "Clinician C")
    now = datetime.now(UTC).replace(microsecond=0)
    worked = await _shift(admin, "officer", officer, now - 3 * DAY)
    ahead = await _shift(admin, "officer", officer, now + 2 * DAY)
    co_ahead = await _shift(admin, "co_responder", co, now + 2 * DAY)
    before = await _listed(admin)
    assert [(s["counts_for_coverage"], s["not_counted"]) for s in before.values()] == [
        (True, None)
    ] * 3

    await admin.ok("PATCH", f"/v1/officers/{officer}", {"active": False})
    await admin.ok("PATCH", f"/v1/co-responders/{co}", {"active": False})
    left = (await admin.ok("GET", f"/v1/officers/{officer}"))["separated_at"]
    after = await _listed(admin)
    assert after[ahead]["counts_for_coverage"] is False
    assert after[ahead]["not_counted"] == {
        "code": "responder_left",
        "message": f"the officer left on {left}: their shifts after that do not count for coverage",
        "left_at": left,
    }
    assert after[co_ahead]["counts_for_coverage"] is False
    assert after[co_ahead]["not_counted"] == {
        "code": "responder_inactive",
        "message": "the co-responder is not active: their shifts do not count for coverage",
        "left_at": None,
    }
    # The shift worked before the officer left still counts, as the coverage report says.
    assert (after[worked]["counts_for_coverage"], after[worked]["not_counted"]) == (True, None)
    shift = after[ahead]
    span = f"from={_q(datetime.fromisoformat(shift['starts_at']))}"
    span += f"&to={_q(datetime.fromisoformat(shift['ends_at']))}&district=D1"
    [d1] = (await admin.ok("GET", f"/v1/coverage?{span}"))["districts"]
    assert (d1["cit_covered_pct"], d1["co_responder_covered_pct"]) == (0.0, 0.0)

    # Made active again, the officer's shift ahead counts again, and says so.
    await admin.ok("PATCH", f"/v1/officers/{officer}", {"active": True})
    again = (await _listed(admin))[ahead]
    assert (again["counts_for_coverage"], again["not_counted"]) == (True, None)
    [d1] = (await admin.ok("GET", f"/v1/coverage?{span}"))["districts"]
    assert d1["cit_covered_pct"] == 100.0


async def test_a_shift_that_ended_while_its_officer_was_away_says_so_once_they_are_back(
    admin: Api, db: asyncpg.Connection
) -> None:
    """Kept at a separation, a shift that ended before the officer was made active again
    never counts (the report reads the past as it was): it says they were not active."""
    await grid_districts(admin)
    body = {"state_officer_id": "STATE-Q", "badge_number": "Q", "name": "Officer Q"}
    officer = str((await admin.ok("POST", "/v1/officers", body, 201))["id"])
    now = datetime.now(UTC).replace(microsecond=0)
    away = await _shift(admin, "officer", officer, now + 2 * DAY)
    await admin.ok("PATCH", f"/v1/officers/{officer}", {"active": False})
    # Its days pass while the officer is away (a test cannot wait for them).
    for table, key in (("shift", "id"), ("shift_coverage", "shift_id")):
        await db.execute(
            f"UPDATE {table} SET starts_at = starts_at - interval '5 days',"  # noqa: S608
            f" ends_at = ends_at - interval '5 days' WHERE {key} = $1",
            uuid.UUID(away),
        )
    await admin.ok("PATCH", f"/v1/officers/{officer}", {"active": True})
    shift = (await _listed(admin))[away]
    assert shift["counts_for_coverage"] is False
    assert shift["not_counted"] == {
        "code": "responder_inactive",
        "message": "the officer was not active when this shift ended: it does not count for"
        " coverage",
        "left_at": None,
    }
