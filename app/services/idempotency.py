"""Idempotency-Key handling (IETF httpapi draft) for call intake and dispatch."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, Invalid
from app.repositories import idempotency as repo
from app.state import AppState

HEADER = "Idempotency-Key"
# An unfinished record older than this belonged to a request that died; it may be retaken.
LEASE = timedelta(seconds=60)


@dataclass(frozen=True)
class Replay:
    status: int
    body: dict[str, Any]


def fingerprint(method: str, path: str, body: BaseModel | None) -> bytes:
    """Method, path and the body in canonical JSON: the same request hashes the same."""
    canonical = "{}" if body is None else json.dumps(body.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).digest()


def check_key(key: str) -> str:
    if not (1 <= len(key) <= 255) or not key.isprintable():
        raise Invalid(
            "Idempotency-Key must be 1 to 255 printable characters", loc=("header", HEADER)
        )
    return key


async def begin(state: AppState, *, agency_id: UUID, key: str, fingerprint: bytes) -> Replay | None:
    """Claim the key for this request, or say what to answer instead.

    None: go ahead (and complete or release the key). A Replay: answer the stored response.
    A different request under the key is a 422; a retry while the first runs is a 409.
    """
    ttl = timedelta(hours=state.settings.idempotency_ttl_hours)
    async with state.agency(agency_id) as conn:
        if await repo.claim(
            conn, agency_id=agency_id, key=key, fingerprint=fingerprint, ttl=ttl, lease=LEASE
        ):
            return None
        row = await repo.lookup(conn, agency_id=agency_id, key=key)
    if row is None:
        # Expired and cleaned up between the two statements: treat as in flight; retry.
        raise Conflict("a request with this Idempotency-Key is being processed; retry shortly")
    if bytes(row.fingerprint) != fingerprint:
        raise Invalid(
            "this Idempotency-Key was used for a different request", loc=("header", HEADER)
        )
    if row.response_status is None:
        raise Conflict("a request with this Idempotency-Key is still being processed")
    return Replay(status=row.response_status, body=row.response_body)


async def complete(
    session: AsyncSession, *, agency_id: UUID, key: str, status: int, body: dict[str, Any]
) -> None:
    """Store the answer under the key, inside the request's own transaction."""
    await repo.complete(session, agency_id=agency_id, key=key, status=status, body=body)


async def release(state: AppState, *, agency_id: UUID, key: str) -> None:
    """Give the key back after a failure, so a retry runs the request afresh."""
    async with state.agency(agency_id) as conn:
        await repo.release(conn, agency_id=agency_id, key=key)


async def expire(state: AppState) -> int:
    """Delete records past their expiry, in every agency; returns how many."""
    async with state.system.connect() as conn:
        return await repo.expire(conn)
