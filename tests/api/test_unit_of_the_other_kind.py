"""A unit named as the other kind is told which of the agency's units it is.

A dispatch naming officer 2C11's id with responder_type co_responder was told "no such
co-responder … in this agency", and a status report to /v1/officers/{a co-responder's
id}/status "officer not found": a dead end for a dispatcher at 3 a.m. holding the right id
(3 a.m. check on the demo). Another agency's unit stays unknown.
"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from tests.helpers import Api, add_co_responder, add_officer, grid_districts


async def _dispatch(api: Api, call_id: str, kind: str, unit_id: str) -> str:
    sent = [{"responder_type": kind, "responder_id": unit_id, "role": "lead"}]
    response = await api.post(
        f"/v1/calls/{call_id}/dispatch", {"units": sent, "override_code": "closer_unit"}
    )
    assert response.status_code == 422, response.text
    return str(response.json()["errors"][0]["msg"])


async def _status(api: Api, kind: str, unit_id: str) -> str:
    response = await api.put(f"/v1/{kind}/{unit_id}/status", {"status": "en_route"})
    assert response.status_code == 404, response.text
    return str(response.json()["detail"])


async def test_a_dispatch_naming_an_officer_as_a_co_responder_says_it_is_an_officer(
    admin: Api,
) -> None:
    await grid_districts(admin)
    officer = await add_officer(admin, district="D1", call_sign="2C11", cit=True)
    co = await add_co_responder(admin, district="D1", call_sign="MCT-3")
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    assert await _dispatch(admin, call["id"], "co_responder", officer) == (
        f"no such co-responder {officer} in this agency: it is officer 2C11"
        " (responder_type officer)"
    )
    assert await _dispatch(admin, call["id"], "officer", co) == (
        f"no such officer {co} in this agency: it is co-responder MCT-3"
        " (responder_type co_responder)"
    )


async def test_a_status_report_to_the_other_kinds_path_says_where_the_units_is_set(
    admin: Api,
) -> None:
    await grid_districts(admin)
    officer = await add_officer(admin, district="D1", call_sign="2C11")
    co = await add_co_responder(admin, district="D1", call_sign="MCT-3")
    assert await _status(admin, "officers", co) == (
        f"officer not found: this id is a co-responder's (MCT-3): use /v1/co-responders/{co}/status"
    )
    assert await _status(admin, "co-responders", officer) == (
        f"co-responder not found: this id is an officer's (2C11): use /v1/officers/{officer}/status"
    )
    # Nothing was reported.
    assert (await admin.ok("GET", f"/v1/co-responders/{co}"))["status"] == "available"


async def test_a_units_record_read_or_changed_at_the_other_kinds_path_says_where_it_is(
    admin: Api,
) -> None:
    """GET or PATCH /v1/officers/{a co-responder's id} was a plain "officer not found", as
    the status report was (noticed in the last note)."""
    await grid_districts(admin)
    officer = await add_officer(admin, district="D1", call_sign="2C11")
    co = await add_co_responder(admin, district="D1", call_sign="MCT-3")
    to_co = f"officer not found: this id is a co-responder's (MCT-3): use /v1/co-responders/{co}"
    to_officer = (
        f"co-responder not found: this id is an officer's (2C11): use /v1/officers/{officer}"
    )
    for method, body in (("GET", None), ("PATCH", {"name": "X"}), ("PATCH", {"active": False})):
        for path, said in (
            (f"/v1/officers/{co}", to_co),
            (f"/v1/co-responders/{officer}", to_officer),
        ):
            problem = await admin.ok(method, path, body, 404)
            assert problem["detail"] == said, (method, body, path)
    # Nothing changed.
    assert (await admin.ok("GET", f"/v1/co-responders/{co}"))["active"] is True
    assert (await admin.ok("GET", f"/v1/officers/{officer}"))["active"] is True


# A backend of this test's database waiting for a lock (a server shared with other test
# runs has waiters of its own).
_WAITING = (
    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
    " WHERE NOT l.granted AND a.datname = current_database()"
)


async def test_deactivating_a_unit_at_the_other_kinds_path_waits_on_none_of_its_rows(
    admin: Api, db: asyncpg.Connection
) -> None:
    """PATCH /v1/co-responders/{an officer's id} with `active: false` locked the officer's
    shift under way (a separation's first step, which finds the shift by the id alone)
    before it answered its 404: it waited behind anything holding that shift. The kind is
    checked first; with the unit's shift and row held by another transaction, the 404
    comes at once."""
    await grid_districts(admin)
    officer = await add_officer(admin, district="D1", call_sign="2C11")
    co = await add_co_responder(admin, district="D1", call_sign="MCT-3")
    for lock_row, unit, path, said in (
        (
            "SELECT 1 FROM officer WHERE id = $1 FOR UPDATE",
            officer,
            f"/v1/co-responders/{officer}",
            f"co-responder not found: this id is an officer's (2C11): use /v1/officers/{officer}",
        ),
        (
            "SELECT 1 FROM co_responder WHERE id = $1 FOR UPDATE",
            co,
            f"/v1/officers/{co}",
            f"officer not found: this id is a co-responder's (MCT-3): use /v1/co-responders/{co}",
        ),
    ):
        held = await db.fetch(
            "SELECT id, ends_at FROM shift WHERE responder_id = $1", uuid.UUID(unit)
        )
        assert held, path  # on shift now: a separation would end that shift
        waited = False
        async with db.transaction():
            await db.execute(
                "SELECT 1 FROM shift WHERE responder_id = $1 FOR UPDATE", uuid.UUID(unit)
            )
            await db.execute(lock_row, uuid.UUID(unit))
            patch = asyncio.create_task(admin.patch(path, {"active": False}))
            while not patch.done():
                if await db.fetchval(_WAITING):
                    waited = True  # the PATCH is held up on the rows held here
                    break
                await asyncio.sleep(0.01)
        answer = await patch
        assert not waited, path
        assert answer.status_code == 404, answer.text
        assert answer.json()["detail"] == said
        after = await db.fetch(
            "SELECT id, ends_at FROM shift WHERE responder_id = $1", uuid.UUID(unit)
        )
        assert after == held
    assert (await admin.ok("GET", f"/v1/officers/{officer}"))["active"] is True
    assert (await admin.ok("GET", f"/v1/co-responders/{co}"))["active"] is True


async def test_another_agencys_unit_named_as_the_other_kind_stays_unknown(
    admin: Api, other_admin: Api
) -> None:
    await grid_districts(admin)
    await grid_districts(other_admin)
    theirs = await add_officer(other_admin, district="D1", call_sign="9Z9")
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    assert await _dispatch(admin, call["id"], "co_responder", theirs) == (
        f"no such co-responder {theirs} in this agency"
    )
    assert await _status(admin, "co-responders", theirs) == "co-responder not found"
    problem = await admin.ok("GET", f"/v1/co-responders/{theirs}", None, 404)
    assert problem["detail"] == "co-responder not found"
