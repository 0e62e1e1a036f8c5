"""SQL for stream tickets (migration 0016): issued in the agency's transaction, redeemed
before the agency is known through a definer-rights function, purged by the owner."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.raw import driver


async def insert_ticket(
    conn: AsyncConnection, *, digest: bytes, agency_id: UUID, key_id: UUID, seconds: int
) -> datetime:
    """Store a ticket that expires `seconds` from now, by the database's clock (the one
    that redeems it); when it expires."""
    expires_at: datetime = await (await driver(conn)).fetchval(
        "INSERT INTO stream_ticket (digest, agency_id, key_id, expires_at)"
        " VALUES ($1, $2, $3, now() + make_interval(secs => $4)) RETURNING expires_at",
        digest,
        agency_id,
        key_id,
        seconds,
    )
    return expires_at


async def redeem(conn: AsyncConnection, digest: bytes) -> bytes | None:
    """Spend the ticket: the hash of the key it acts as, or None if there was no such
    ticket or it had expired (either way it is gone)."""
    found = await (await driver(conn)).fetchval("SELECT cit_redeem_stream_ticket($1)", digest)
    return None if found is None else bytes(found)


async def purge(conn: AsyncConnection) -> int:
    """Remove the tickets that expired unredeemed (as the owner); how many."""
    result = await conn.execute(text("DELETE FROM stream_ticket WHERE expires_at <= now()"))
    return int(result.rowcount)
