"""SQL for Idempotency-Key records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.raw import json_text

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
_RELEASE = text(
    "DELETE FROM idempotency_record"
    " WHERE agency_id = :agency_id AND key = :key AND response_status IS NULL"
)
_EXPIRE = text("DELETE FROM idempotency_record WHERE expires_at < now()")

# Alone (complete), or as the `idem` step of the statement that writes the answer's change
# (call intake, app/repositories/calls.py): the change and its replayable answer commit
# together or not at all.
COMPLETE_ANSWER = """
UPDATE idempotency_record SET response_status = :idem_status,
                              response_body = CAST(:idem_body AS jsonb)
WHERE agency_id = :idem_agency_id AND key = :idem_key"""
_COMPLETE = text(COMPLETE_ANSWER)


@dataclass(frozen=True, slots=True)
class Answer:
    """The response to store under an Idempotency-Key."""

    agency_id: UUID
    key: str
    status: int
    body: dict[str, Any]


def answer_params(answer: Answer) -> dict[str, Any]:
    """The parameters of COMPLETE_ANSWER."""
    return {
        "idem_agency_id": answer.agency_id,
        "idem_key": answer.key,
        "idem_status": answer.status,
        "idem_body": json_text(answer.body),
    }


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


async def complete(conn: AsyncConnection, answer: Answer) -> None:
    await conn.execute(_COMPLETE, answer_params(answer))


async def release(conn: AsyncConnection, *, agency_id: UUID, key: str) -> None:
    await conn.execute(_RELEASE, {"agency_id": agency_id, "key": key})


async def expire(conn: AsyncConnection) -> int:
    result = await conn.execute(_EXPIRE)
    return int(getattr(result, "rowcount", 0) or 0)
