"""Idempotency-Key handling (IETF httpapi draft) for call intake, dispatch and webhook
subscriptions."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from app.db.unit_of_work import UnitOfWork
from app.errors import Invalid, RequestInProgress
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


async def begin(
    state: AppState, work: UnitOfWork, *, key: str, fingerprint: bytes
) -> Replay | None:
    """Claim the key for the request that work is the transaction of, or say what to
    answer instead.

    None: go ahead. The key is then completed in work's transaction (complete, or the
    intake statement), or released if work rolls back, so a retry runs afresh. A Replay:
    answer the stored response. A different request under the key is a 422; a retry
    while the first runs is a 409 of its own type, with Retry-After.
    """
    key = check_key(key)
    agency_id = work.agency_id
    ttl = timedelta(hours=state.settings.idempotency_ttl_hours)
    # A transaction of its own, committed at once: a concurrent retry must see the claim.
    async with state.unit_of_work(agency_id) as claim:
        conn = await claim.connection()
        if await repo.claim(
            conn, agency_id=agency_id, key=key, fingerprint=fingerprint, ttl=ttl, lease=LEASE
        ):
            work.on_rollback(lambda: _release(state, agency_id, key))
            return None
        row = await repo.lookup(conn, agency_id=agency_id, key=key)
    if row is None:
        # Expired and cleaned up between the two statements: treat as in flight; retry.
        raise RequestInProgress(
            "a request with this Idempotency-Key is being processed; retry shortly"
        )
    if bytes(row.fingerprint) != fingerprint:
        raise Invalid(
            "this Idempotency-Key was used for a different request", loc=("header", HEADER)
        )
    if row.response_status is None:
        raise RequestInProgress(
            "a request with this Idempotency-Key is still being processed; retry shortly"
        )
    return Replay(status=row.response_status, body=row.response_body)


async def complete(work: UnitOfWork, *, key: str, status: int, body: dict[str, Any]) -> None:
    """Store the answer under the key, inside the request's own transaction."""
    answer = repo.Answer(agency_id=work.agency_id, key=key, status=status, body=body)
    await repo.complete(await work.connection(), answer)


async def _release(state: AppState, agency_id: UUID, key: str) -> None:
    """Give the key back after a failure, so a retry runs the request afresh."""
    async with state.unit_of_work(agency_id) as release:
        await repo.release(await release.connection(), agency_id=agency_id, key=key)


async def expire(state: AppState) -> int:
    """Delete records past their expiry, in every agency; returns how many."""
    async with state.system.connect() as conn:
        return await repo.expire(conn)
