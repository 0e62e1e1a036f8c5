"""SQL for the alerts the housekeeping loop sends once: which it has sent, and which agencies
it looks ahead for."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import delete, select
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


async def purge(conn: AsyncConnection, *, before: datetime) -> int:
    """Forget alerts sent before `before` (what they were about has long passed)."""
    result = await conn.execute(delete(AlertSent).where(AlertSent.created_at < before))
    return result.rowcount or 0
