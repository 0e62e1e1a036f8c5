"""The live feed's reads: an agency's committed events, in an order that resuming can trust.

A position is (xact_id, id): the id of the transaction that wrote the event (xid8, set at
insert; migration 0014), then the event's own id. Event ids are made before commit, so
they do not give commit order, and neither does a transaction id by itself: a transaction
with a smaller id may commit later. So a read sends only events whose transaction is below
its snapshot's xmin. Every transaction below xmin has ended, committed or rolled back, and
its events are visible now or never; every transaction still running, or yet to take an
id, has an id at or above xmin. An event that becomes visible after a read therefore sorts
after every event that read sent: a feed that resumes after its last position skips
nothing, and, positions being unique and increasing, repeats nothing. Committed events at
or above xmin are held back until the transactions before them end (the read says so).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.raw import driver
from app.events.catalogue import OutboxEvent
from app.vocabulary import EventType

# A transaction id as text: xid8 values fit a bigint for thousands of years.
_XACT = re.compile(r"[0-9]{1,18}")


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """Where a feed is: after the event (xact_id, event_id)."""

    xact_id: int
    event_id: UUID

    def __str__(self) -> str:
        return f"{self.xact_id}.{self.event_id}"

    @classmethod
    def parse(cls, text: str) -> Position | None:
        """The position __str__ wrote, or None if text is not one."""
        xact, dot, event = text.partition(".")
        if not dot or not _XACT.fullmatch(xact):
            return None
        try:
            event_id = UUID(event)
        except ValueError:
            return None
        if str(event_id) != event.lower():
            return None
        return cls(int(xact), event_id)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    position: Position
    event: OutboxEvent
    created_at: datetime
    # The units actively assigned to the event's call when it was written.
    units_on_call: frozenset[UUID]


@dataclass(frozen=True, slots=True)
class Batch:
    # Events past the position, in order, every one of them final.
    events: list[StoredEvent]
    # Where the next read starts (the last event read, or the position it started from).
    position: Position
    # More may be ready now: the page was full.
    more: bool
    # Committed events wait for an older transaction to end: read again shortly.
    held_back: bool
    # Unless more: every event of the types read that comes before this position has been
    # read (by this read or those before it): all of them whose transaction is below the
    # read's horizon. A feed may move on to it even if it is past the last event read.
    complete_to: Position


# xmin of the statement's own snapshot (pg_current_snapshot() is the active snapshot).
_HORIZON = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint"

# Past the horizon rows are read too, only to learn that some are held back. The horizon
# comes back even when no event does (the lateral join then gives one row of nulls).
_AFTER = f"""
SELECT h.below, e.xact_id, e.id, e.type, e.call_id, e.responder_id, e.payload, e.created_at,
       e.units_on_call
FROM ({_HORIZON} AS below) h
LEFT JOIN LATERAL (
    SELECT * FROM event
    WHERE agency_id = $1 AND (xact_id, id) > ($2, $3) AND type = ANY ($4::text[])
    ORDER BY xact_id, id
    LIMIT $5
) e ON true
ORDER BY e.xact_id, e.id"""  # noqa: S608 (static SQL)


async def start(conn: AsyncConnection) -> Position:
    """The position of a feed that starts now: after every event whose transaction has
    ended (a few committed just before may follow, never one committed after be missed)."""
    return _before(await (await driver(conn)).fetchval(_HORIZON))


def _before(horizon: int) -> Position:
    """The position after every event of a transaction below horizon."""
    return Position(horizon - 1, UUID(int=(1 << 128) - 1))


async def read_after(
    conn: AsyncConnection,
    *,
    agency_id: UUID,
    after: Position,
    types: frozenset[EventType],
    limit: int,
) -> Batch:
    """Up to limit of the agency's events of these types after the position, in order."""
    rows = await (await driver(conn)).fetch(
        _AFTER, agency_id, after.xact_id, after.event_id, sorted(types), limit
    )
    events: list[StoredEvent] = []
    held_back = False
    below: int = rows[0]["below"]
    for row in rows:
        if row["xact_id"] is None:
            break
        if row["xact_id"] >= below:
            held_back = True
            break
        events.append(
            StoredEvent(
                position=Position(row["xact_id"], row["id"]),
                event=OutboxEvent(
                    id=row["id"],
                    type=row["type"],
                    call_id=row["call_id"],
                    responder_id=row["responder_id"],
                    # Decoded already: SQLAlchemy's dialect gives its connections a codec.
                    payload=row["payload"],
                ),
                created_at=row["created_at"],
                units_on_call=frozenset(row["units_on_call"]),
            )
        )
    position = events[-1].position if events else after
    more = len(events) == limit
    return Batch(
        events=events,
        position=position,
        more=more,
        held_back=held_back,
        complete_to=position if more else max(position, _before(below)),
    )
