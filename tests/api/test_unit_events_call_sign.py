"""unit.status_changed and unit.released name the unit by its call sign, as unit.assigned does.

A console on the live feed read "01a2458e-fe51-70d8-… out_of_service": the call sign it
shows a dispatcher came in unit.assigned only, so a unit's later reports and releases had
to be matched back by id against GET /v1/units, which no longer lists a unit once its shift
is over (3 a.m. check on the demo).
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from tests.helpers import Api, add_co_responder, add_officer, grid_districts


async def _events(db: asyncpg.Connection) -> list[tuple[str, dict[str, Any]]]:
    rows = await db.fetch(
        "SELECT type, payload::text AS p FROM event"
        " WHERE type IN ('unit.status_changed', 'unit.released') ORDER BY id"
    )
    return [(r["type"], json.loads(r["p"])) for r in rows]


async def test_a_units_reports_and_releases_name_its_call_sign(
    admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    await add_co_responder(admin, district="D1", call_sign="MCT-3")
    officer = await add_officer(admin, district="D1", call_sign="1C10", cit=True)
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "nature": "MNTL"}, 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    await admin.ok("PUT", f"/v1/officers/{officer}/status", {"status": "en_route"})
    await admin.ok("PUT", f"/v1/officers/{officer}/status", {"status": "out_of_service"})
    await admin.ok("POST", f"/v1/calls/{call['id']}/clear", {"disposition": "resolved"})
    # On no call: busy on the CAD's own incident, then back.
    await admin.ok("PUT", f"/v1/officers/{officer}/status", {"status": "on_scene"})
    told = [
        (kind, e["call_sign"], e.get("status"), e.get("previous_status"))
        for kind, e in await _events(db)
    ]
    assert told == [
        ("unit.status_changed", "1C10", "en_route", "dispatched"),
        ("unit.status_changed", "1C10", "out_of_service", "en_route"),
        ("unit.released", "1C10", "out_of_service", None),
        ("unit.released", "MCT-3", "available", None),
        ("unit.status_changed", "1C10", "on_scene", "out_of_service"),
    ]
