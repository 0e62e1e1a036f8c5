"""The outbox: every committed event is announced, and old finished ones are removed."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg
import pytest
from fastapi import FastAPI

from app.events.catalogue import EVENT_COMMITTED, OutboxEvent, call_summary
from app.ids import first_id_at, new_id
from app.repositories import events as outbox
from app.services import housekeeping
from app.state import AppState
from tests.events.samples import AT, sample_call
from tests.helpers import Api, add_co_responder, grid_districts
from tests.receiver import Receiver


def _event(agency_id: UUID) -> OutboxEvent:
    payload = call_summary(sample_call(agency_id), lead=None)
    return OutboxEvent(
        id=new_id(), type="call.created", call_id=None, responder_id=None, payload=payload
    )


async def _write_then_fail(state: AppState, agency_id: UUID) -> None:
    async with state.unit_of_work(agency_id) as work:
        session = await work.session()
        await outbox.write(session, agency_id=agency_id, at=AT, events=[_event(agency_id)])
        raise RuntimeError("the request failed")


async def test_every_committed_event_is_announced_and_a_rolled_back_one_is_not(
    app: FastAPI, admin: Api, other_admin: Api, db: asyncpg.Connection
) -> None:
    heard: asyncio.Queue[str] = asyncio.Queue()

    def announced(_conn: object, _pid: int, _channel: str, agency: str) -> None:
        heard.put_nowait(agency)

    await db.add_listener(EVENT_COMMITTED, announced)
    state: AppState = app.state.cit
    try:
        # No webhook subscription exists: the event creates no delivery, yet it is announced.
        await grid_districts(admin)
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        assert await asyncio.wait_for(heard.get(), 5) == str(admin.agency_id)
        with pytest.raises(RuntimeError, match="the request failed"):
            await _write_then_fail(state, admin.agency_id)
        async with state.unit_of_work(other_admin.agency_id) as work:
            session = await work.session()
            await outbox.write(
                session,
                agency_id=other_admin.agency_id,
                at=AT,
                events=[_event(other_admin.agency_id)],
            )
        # Notifications arrive in commit order: had the rolled-back one been sent, it would
        # come before the other agency's.
        assert await asyncio.wait_for(heard.get(), 5) == str(other_admin.agency_id)
        assert heard.empty()
    finally:
        await db.remove_listener(EVENT_COMMITTED, announced)


def _id_at(moment: datetime) -> UUID:
    """A UUIDv7 as one made at moment would be."""
    return UUID(int=first_id_at(moment).int | (0x7 << 76) | (0b10 << 62))


async def _old_event(
    db: asyncpg.Connection, agency_id: UUID, moment: datetime, kind: str, serial: int
) -> UUID:
    event_id = UUID(int=_id_at(moment).int + serial)
    await db.execute(
        "INSERT INTO event (id, agency_id, type, payload, created_at)"
        " VALUES ($1, $2, $3, '{}'::jsonb, $4)",
        event_id,
        agency_id,
        kind,
        moment,
    )
    return event_id


@pytest.mark.parametrize("batch", [housekeeping.OUTBOX_BATCH, 1])
async def test_housekeeping_removes_old_finished_events_and_keeps_pending_ones(
    app: FastAPI,
    admin: Api,
    receiver: Receiver,
    db: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
    batch: int,
) -> None:
    monkeypatch.setattr(housekeeping, "OUTBOX_BATCH", batch)
    await admin.ok("POST", "/v1/webhooks", {"url": receiver.url, "events": ["call.created"]}, 201)
    old = datetime.now(UTC) - timedelta(days=31)
    recent = datetime.now(UTC) - timedelta(days=29)
    delivered = await _old_event(db, admin.agency_id, old, "call.created", 1)
    failed = await _old_event(db, admin.agency_id, old, "call.created", 2)
    pending = await _old_event(db, admin.agency_id, old, "call.created", 3)
    unheard = await _old_event(db, admin.agency_id, old, "unit.released", 4)
    young = await _old_event(db, admin.agency_id, recent, "call.created", 5)
    for event_id, status in ((delivered, "delivered"), (failed, "failed"), (young, "delivered")):
        await db.execute(
            "UPDATE webhook_delivery SET status = $2 WHERE event_id = $1", event_id, status
        )

    assert await housekeeping.purge_outbox(app.state.cit) == 3  # 30 days by default

    left = {r["id"] for r in await db.fetch("SELECT id FROM event")}
    assert left == {pending, young}
    deliveries = await db.fetch("SELECT event_id, status FROM webhook_delivery")
    assert {(r["event_id"], r["status"]) for r in deliveries} == {
        (pending, "pending"),
        (young, "delivered"),
    }
    assert unheard not in left
    # Nothing is left to do: a second round removes nothing.
    assert await housekeeping.purge_outbox(app.state.cit) == 0


async def test_only_a_status_report_writes_unit_status_changed_not_a_dispatch_or_a_clear(
    admin: Api, db: asyncpg.Connection
) -> None:
    """As docs/api.md says: a dispatch's move to dispatched is told by unit.assigned, a
    clear's release by unit.released with its status; unit.status_changed is a report's."""
    await grid_districts(admin)
    co = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    call = await admin.ok("POST", "/v1/calls", {"district": "D1", "nature": "MNTL"}, 201)
    await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
    await admin.ok("PUT", f"/v1/co-responders/{co}/status", {"status": "en_route"})
    await admin.ok("POST", f"/v1/calls/{call['id']}/clear", {"disposition": "resolved"})
    written = await db.fetch(
        "SELECT type, payload FROM event WHERE responder_id = $1 ORDER BY xact_id, id",
        UUID(co),
    )
    assert [e["type"] for e in written] == [
        "unit.assigned",
        "unit.status_changed",
        "unit.released",
    ]
    reported = json.loads(written[1]["payload"])
    assert (reported["previous_status"], reported["status"]) == ("dispatched", "en_route")
    assert json.loads(written[2]["payload"])["status"] == "available"
    units = (await admin.ok("GET", "/v1/units"))["items"]
    assert [u["status"] for u in units if u["responder_id"] == co] == ["available"]
