"""SQL for Idempotency-Key records."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

# Take the key if it is new, expired, or held by a request that died mid-flight (its
# record stayed unfinished past the lease). A retry with a different body never takes it.
_CLAIM = text(
    """
INSERT INTO idempotency_record (agency_id, key, fingerprint, created_at, expires_at)
VALUES (:agency_id, :key, :fingerprint, now(), now() + CAST(:ttl AS interval))
ON CONFLICT (agency_id, key) DO UPDATE
    SET fingerprint = EXCLUDED.fingerprint, created_at = now(), expires_at = EXCLUDED.expires_at,
        response_status = NULL, response_body = NULL
    WHERE idempotency_record.expires_at < now()
       OR (idempotency_record.response_status IS NULL
           AND idempotency_record.created_at < now() - CAST(:lease AS interval)
           AND idempotency_record.fingerprint = EXCLUDED.fingerprint)
RETURNING 1
"""
)
_LOOKUP = text(
    "SELECT fingerprint, response_status, response_body FROM idempotency_record"
    " WHERE agency_id = :agency_id AND key = :key"
)
_COMPLETE = text(
    "UPDATE idempotency_record SET response_status = :status, response_body = :body"
    " WHERE agency_id = :agency_id AND key = :key"
).bindparams(bindparam("body", type_=JSONB))
_RELEASE = text(
    "DELETE FROM idempotency_record"
    " WHERE agency_id = :agency_id AND key = :key AND response_status IS NULL"
)
_EXPIRE = text("DELETE FROM idempotency_record WHERE expires_at < now()")

# What the batched call insert adds to record its response under the key.
COMPLETE_IN_CTE = """, idem AS (
    UPDATE idempotency_record SET response_status = 201, response_body = :idem_body
    WHERE agency_id = :agency_id AND key = :idem_key
)
"""


async def claim(
    conn: AsyncConnection,
    *,
    agency_id: UUID,
    key: str,
    fingerprint: bytes,
    ttl: timedelta,
    lease: timedelta,
) -> bool:
    params = {"agency_id": agency_id, "key": key, "fingerprint": fingerprint, "ttl": ttl}
    result = await conn.execute(_CLAIM, {**params, "lease": lease})
    return result.first() is not None


async def lookup(conn: AsyncConnection, *, agency_id: UUID, key: str) -> Any:
    return (await conn.execute(_LOOKUP, {"agency_id": agency_id, "key": key})).first()


async def complete(
    session: AsyncSession, *, agency_id: UUID, key: str, status: int, body: dict[str, Any]
) -> None:
    params = {"agency_id": agency_id, "key": key, "status": status, "body": body}
    await session.execute(_COMPLETE, params)


async def release(conn: AsyncConnection, *, agency_id: UUID, key: str) -> None:
    await conn.execute(_RELEASE, {"agency_id": agency_id, "key": key})


async def expire(conn: AsyncConnection) -> int:
    result = await conn.execute(_EXPIRE)
    return int(getattr(result, "rowcount", 0) or 0)
