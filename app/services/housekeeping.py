"""Clean-up jobs that run inside `serve` for as long as it runs, as the schema owner."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

from app.db.failures import log_failure
from app.repositories import audit as audit_repo
from app.repositories import events as outbox
from app.repositories import limits as limits_repo
from app.repositories import stream_tickets as tickets_repo
from app.repositories import webhooks as webhooks_repo
from app.services import alerts, auth, idempotency
from app.state import LOCKOUT_AUDIT_WINDOW, AppState

log = logging.getLogger(__name__)

# Events removed per statement: each batch is its own short transaction.
OUTBOX_BATCH = 5_000


async def every(
    seconds: float, job: Callable[[AppState], Awaitable[int]], state: AppState, what: str
) -> None:
    """Run job now and then every `seconds`; a failure (e.g. the database briefly down) is
    logged and retried next round."""
    while True:
        try:
            done = await job(state)
            if done:
                # Each job counts what it did: rows removed, or alerts sent.
                log.info("housekeeping", extra={"job": what, "count": done})
        except Exception as exc:
            log_failure(log, "housekeeping failed", exc, {"job": what})
        await asyncio.sleep(seconds)


async def purge_audit(state: AppState) -> int:
    """Remove audit entries past CIT_AUDIT_RETENTION_DAYS."""
    keep = timedelta(days=state.settings.audit_retention_days)
    async with state.system.connect() as conn:
        return await audit_repo.purge(conn, keep=keep)


async def purge_outbox(state: AppState) -> int:
    """Remove events older than CIT_EVENT_RETENTION_DAYS, with their finished deliveries.

    An event that still has a pending delivery stays, however old.
    """
    before = datetime.now(UTC) - timedelta(days=state.settings.event_retention_days)
    removed = 0
    while True:
        async with state.system.connect() as conn:
            batch = await outbox.purge(conn, before=before, batch=OUTBOX_BATCH)
        removed += batch
        if batch < OUTBOX_BATCH:
            return removed


async def purge_limits(state: AppState) -> int:
    """Remove full token buckets and failed-authentication counts past their window."""
    lockout = timedelta(seconds=state.settings.auth_lockout_seconds)
    async with state.system.connect() as conn:
        return await limits_repo.purge(conn, lockout=lockout)


async def purge_tickets(state: AppState) -> int:
    """Remove the stream tickets that expired unredeemed."""
    async with state.system.connect() as conn:
        return await tickets_repo.purge(conn)


async def drop_previous_secrets(state: AppState) -> int:
    """Forget the webhook secrets a rotation replaced, once their overlap has ended (their
    ciphertext otherwise stays, and `rekey` would keep moving it)."""
    async with state.system.connect() as conn:
        return await webhooks_repo.drop_previous_secrets(conn)


def jobs(state: AppState) -> list[tuple[str, Coroutine[Any, Any, None]]]:
    """Each job's name, and the job."""
    scheduled = [
        (600, idempotency.expire, "expired idempotency keys"),
        (3_600, purge_outbox, "events and deliveries past retention"),
        (86_400, purge_audit, "audit entries past retention"),
        (300, purge_limits, "stale rate buckets and failure counts"),
        (300, purge_tickets, "expired stream tickets"),
        (300, drop_previous_secrets, "webhook secrets past their rotation's overlap"),
        (LOCKOUT_AUDIT_WINDOW, auth.record_held_refusals, "lockout refusals audited"),
    ]
    interval = state.settings.alert_interval_seconds
    if interval > 0:
        scheduled.append((interval, alerts.look_ahead, "alerts sent"))
    return [(what, every(seconds, job, state, what)) for seconds, job, what in scheduled]
