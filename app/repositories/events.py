"""The one writer into the outbox, and the clean-up of delivered events.

Every event goes through INSERT_EVENTS: alone (write), or as the `ev` step of a statement
that also writes the change it reports (call intake and re-triage, app/repositories/calls.py;
dispatch and clear, app/repositories/dispatches.py, through INSERT_EVENTS_ASSIGNING and
INSERT_EVENTS_RELEASING), so both commit together. The fan-out trigger (migration 0009)
then creates the webhook deliveries and announces the event at commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.db.raw import RawStatement, driver, json_text
from app.events.catalogue import OutboxEvent
from app.ids import first_id_at

# units_on_call: who is on the event's call as it is written, which decides who hears it
# on the call (app/events/audience.py) for the fan-out trigger and the live feed alike.
# xact_id, the feed's order, is the column's default: the writing transaction's id.
_INSERT_EVENTS = """
INSERT INTO event (id, agency_id, type, call_id, responder_id, payload, created_at,
                   units_on_call)
SELECT e.id, CAST(:ev_agency_id AS uuid), e.type, e.call_id, e.responder_id, e.payload,
       CAST(:ev_at AS timestamptz),
       ARRAY(SELECT a.responder_id FROM assignment a
             WHERE a.call_id = e.call_id AND a.released_at IS NULL{released}){assigned}
FROM jsonb_to_recordset(CAST(:ev_rows AS jsonb))
    AS e(id uuid, type text, call_id uuid, responder_id uuid, payload jsonb)"""
INSERT_EVENTS = _INSERT_EVENTS.format(released="", assigned="")
# Inside a statement that also assigns units to the events' call (dispatch): its steps
# all see the database as it was before the statement, so the units it assigns are
# added to units_on_call from :ev_assigned.
INSERT_EVENTS_ASSIGNING = _INSERT_EVENTS.format(
    released="", assigned=" || CAST(:ev_assigned AS uuid[])"
)
# Inside a statement that also releases assignments (clear): the assignments it releases
# (:ev_released, their ids) are left out of units_on_call.
INSERT_EVENTS_RELEASING = _INSERT_EVENTS.format(
    released=" AND a.id <> ALL(CAST(:ev_released AS uuid[]))", assigned=""
)

_WRITE = RawStatement.compile(INSERT_EVENTS)


def params(*, agency_id: UUID, at: datetime, events: Sequence[OutboxEvent]) -> dict[str, Any]:
    """The parameters of INSERT_EVENTS (also inside a larger statement)."""
    rows = [
        {
            "id": str(e.id),
            "type": e.type,
            "call_id": None if e.call_id is None else str(e.call_id),
            "responder_id": None if e.responder_id is None else str(e.responder_id),
            "payload": e.payload,
        }
        for e in events
    ]
    return {"ev_agency_id": agency_id, "ev_at": at, "ev_rows": json_text(rows)}


async def write(
    session: AsyncSession, *, agency_id: UUID, at: datetime, events: Sequence[OutboxEvent]
) -> None:
    """Write events in the session's transaction, after the changes it has pending.

    The session is flushed first, so the fan-out trigger sees the assignments the same
    request made (who hears call.updated depends on them).
    """
    if not events:
        return
    await session.flush()
    raw = await driver(await session.connection())
    await raw.execute(_WRITE.sql, *_WRITE.args(params(agency_id=agency_id, at=at, events=events)))


# Events older than the cut-off with no pending delivery, oldest first, and their finished
# deliveries. Ids are time-ordered (UUIDv7), so the id bound makes this a primary-key range
# scan. A delivery requeued meanwhile (POST .../retry) keeps its event: the delete of that
# event then fails its foreign key, the batch rolls back, and the next round retries.
_PURGE = text(
    """
WITH old AS (
    SELECT e.id FROM event e
    WHERE e.id < :below AND e.created_at < :before
      AND NOT EXISTS (SELECT 1 FROM webhook_delivery d
                      WHERE d.event_id = e.id AND d.status = 'pending')
    ORDER BY e.id
    LIMIT :batch
), finished AS (
    DELETE FROM webhook_delivery d USING old
    WHERE d.event_id = old.id AND d.status <> 'pending'
)
DELETE FROM event e USING old WHERE e.id = old.id
"""
)


async def purge(conn: AsyncConnection, *, before: datetime, batch: int) -> int:
    """Remove up to batch events created before `before` (with their deliveries)."""
    result = await conn.execute(
        _PURGE, {"below": first_id_at(before), "before": before, "batch": batch}
    )
    return int(getattr(result, "rowcount", 0) or 0)
