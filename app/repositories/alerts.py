"""SQL for the alerts the housekeeping loop sends once: which it has sent, and which agencies
it looks ahead for."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.models import Agency, AlertSent


async def agency_ids(conn: AsyncConnection) -> list[UUID]:
    """Every agency (as the schema owner, across agencies)."""
    return list((await conn.execute(select(Agency.id).order_by(Agency.id))).scalars())


async def claim(session: AsyncSession, agency_id: UUID, keys: Sequence[str]) -> set[str]:
    """Record the alerts as sent and return the keys not sent before.

    Two instances claiming one key at the same moment: the second waits for the first's
    transaction and then finds the key taken, so an alert goes out once.
    """
    if not keys:
        return set()
    stmt = (
        insert(AlertSent)
        .values([{"agency_id": agency_id, "key": key} for key in keys])
        .on_conflict_do_nothing()
        .returning(AlertSent.key)
    )
    return set((await session.execute(stmt)).scalars())


async def claim_told(session: AsyncSession, agency_id: UUID, told: Mapping[str, str]) -> set[str]:
    """Record what each key was told with (key -> told) and return the keys to send: those
    new, and those last told otherwise. A row from before `told` was kept (NULL) takes the
    value silently: it was told, with what is not known.

    The rows are locked as they are read, so two instances deciding on one key take turns:
    the second finds it told.
    """
    if not told:
        return set()
    rows = await session.execute(
        select(AlertSent.key, AlertSent.told)
        .where(AlertSent.agency_id == agency_id, AlertSent.key.in_(sorted(told)))
        .order_by(AlertSent.key)
        .with_for_update()
    )
    seen: dict[str, str | None] = dict(rows.all())
    fresh = [key for key in sorted(told) if key not in seen]
    sent: set[str] = set()
    if fresh:
        stmt = (
            insert(AlertSent)
            .values([{"agency_id": agency_id, "key": key, "told": told[key]} for key in fresh])
            .on_conflict_do_nothing()
            .returning(AlertSent.key)
        )
        sent = set((await session.execute(stmt)).scalars())
    moved = [key for key, was in seen.items() if was != told[key]]
    for key in moved:
        await session.execute(
            update(AlertSent)
            .where(AlertSent.agency_id == agency_id, AlertSent.key == key)
            .values(told=told[key], created_at=func.now())
        )
    return sent | {key for key in moved if seen[key] is not None}


# What a gap's record is told with once the gap is closed (it is told again, as new, should
# the roster have the gap once more).
CLOSED = "closed"


# The class of the advisory locks that make one agency's looks ahead take turns.
LOOKS_LOCK = 0x0A1E57ED


async def lock_looks(session: AsyncSession, agency_id: UUID) -> None:
    """Wait for, and hold to the end of the transaction, the agency's look-ahead lock:
    taken before the roster is read, so a look decides on what the look before it wrote
    and on the roster as it stands after it (two instances looking at once each read the
    roster and the alerts told apart, and one working from a roster read before a change
    told again a gap the other had just closed)."""
    key = func.hashtext(str(agency_id))
    await session.execute(select(func.pg_advisory_xact_lock(LOOKS_LOCK, key)))


async def gaps_told(session: AsyncSession, agency_id: UUID, prefix: str) -> dict[str, str]:
    """The agency's gap alerts told and not closed: key -> the end told (lock_looks makes
    the looks take turns; the rows are not locked)."""
    rows = await session.execute(
        select(AlertSent.key, AlertSent.told).where(
            AlertSent.agency_id == agency_id,
            AlertSent.key.startswith(prefix, autoescape=True),
            AlertSent.told.is_not(None),
            AlertSent.told != CLOSED,
        )
    )
    return {key: told for key, told in rows.all() if told is not None}


async def close(session: AsyncSession, agency_id: UUID, keys: Sequence[str]) -> None:
    """Record the gaps as closed."""
    if keys:
        await session.execute(
            update(AlertSent)
            .where(AlertSent.agency_id == agency_id, AlertSent.key.in_(keys))
            .values(told=CLOSED, created_at=func.now())
        )


async def purge(conn: AsyncConnection, *, before: datetime) -> int:
    """Forget alerts sent before `before` (what they were about has long passed)."""
    result = await conn.execute(delete(AlertSent).where(AlertSent.created_at < before))
    return result.rowcount or 0
