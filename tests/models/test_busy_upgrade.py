"""Migration 0041: a unit is busy while its status is an on-call one. The indexes that find
the units held over say so as the model does, and a unit an earlier release deactivated
while busy on an incident it did not name is made out of service, as it would have had to
report."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from app.db.engine import plain_url
from app.db.migrate import upgrade
from app.models.responder import BUSY

# (active, status, external_incident) of each officer as an earlier release left it, and
# its status and external_incident after.
_OFFICERS = [
    (True, "en_route", None, ("en_route", None)),  # busy and serving: kept
    (True, "on_scene", "INC-1", ("on_scene", "INC-1")),
    (False, "en_route", None, ("out_of_service", None)),  # separated while busy
    (False, "on_scene", "INC-9", ("out_of_service", None)),  # off the incident too
    (False, "available", None, ("available", None)),
    (False, "out_of_service", None, ("out_of_service", None)),
]


async def _write_old(url: str) -> list[uuid.UUID]:
    conn = await asyncpg.connect(plain_url(url))
    try:
        agency = await conn.fetchval(
            "INSERT INTO agency (id, name, timezone) VALUES (gen_random_uuid(), 'A', 'UTC')"
            " RETURNING id"
        )
        ids = []
        for n, (active, status, incident, _) in enumerate(_OFFICERS):
            ids.append(
                await conn.fetchval(
                    "INSERT INTO officer (id, agency_id, state_officer_id, badge_number, name,"
                    " active, status, external_incident)"
                    " VALUES (gen_random_uuid(), $1, $2, $2, 'O', $3, $4, $5) RETURNING id",
                    agency,
                    f"S-{n}",
                    active,
                    status,
                    incident,
                )
            )
        ids.append(
            await conn.fetchval(
                "INSERT INTO co_responder (id, agency_id, name, kind, provider, active, status)"
                " VALUES (gen_random_uuid(), $1, 'C', 'clinician', 'P', false, 'on_scene')"
                " RETURNING id",
                agency,
            )
        )
        return ids
    finally:
        await conn.close()


async def _read(
    url: str, ids: list[uuid.UUID]
) -> tuple[list[tuple[str, str | None]], list[tuple[str, str]]]:
    conn = await asyncpg.connect(plain_url(url))
    try:
        statuses = []
        for i in ids:
            row = await conn.fetchrow(
                "SELECT status, external_incident FROM officer WHERE id = $1"
                " UNION ALL SELECT status, external_incident FROM co_responder WHERE id = $1",
                i,
            )
            assert row is not None
            statuses.append((row["status"], row["external_incident"]))
        # Each index's predicate beside that of an index made from the model's BUSY.
        predicates = []
        for table in ("officer", "co_responder"):
            await conn.execute(f"CREATE TEMP TABLE model_{table} (LIKE {table})")
            await conn.execute(
                f"CREATE INDEX model_busy_{table} ON model_{table} (agency_id) WHERE {BUSY}"
            )
            migrated, modelled = [
                await conn.fetchval(
                    "SELECT pg_get_expr(i.indpred, i.indrelid) FROM pg_index i"
                    " JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = $1",
                    name,
                )
                for name in (f"ix_{table}_busy", f"model_busy_{table}")
            ]
            predicates.append((migrated, modelled))
        return statuses, predicates
    finally:
        await conn.close()


def test_busy_is_the_on_call_statuses_and_no_separated_unit_is_left_busy(
    scratch_url: str,
) -> None:
    upgrade(scratch_url, "0040")
    ids = asyncio.run(_write_old(scratch_url))
    upgrade(scratch_url)
    statuses, predicates = asyncio.run(_read(scratch_url, ids))
    assert statuses == [after for *_, after in _OFFICERS] + [("out_of_service", None)]
    for migrated, modelled in predicates:
        assert migrated == modelled
        assert "on_scene" in migrated
