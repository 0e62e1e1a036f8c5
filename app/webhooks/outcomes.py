"""What each webhook attempt came to, recorded for the relay (app/webhooks/relay.py).

An outcome is written only while the attempt's claim holds the delivery's lease (the
repository's statements check it), so an attempt that outlived its lease records nothing
over the claim after it. Successes are written in batches, by a recorder task of their own;
failures and retries at once. Each outcome is counted in the metrics once recorded (not one
that its claim's lease no longer let it record).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from app import metrics
from app.db.failures import log_failure
from app.repositories import delivery_queue as repo
from app.webhooks.retries import next_delay

log = logging.getLogger(__name__)


def _claimed(row: Any) -> repo.Claimed:
    return (row.id, row.lease_until)


def _said(row: Any, error: str, retry_in: float | None = None) -> dict[str, Any]:
    """What the log says of a failed attempt: the delivery, never its URL (a receiver's
    token may be in its query) nor its body."""
    said: dict[str, Any] = {
        "delivery_id": str(row.id),
        "subscription_id": str(row.subscription_id),
        "event_type": row.type,
        "attempt": row.attempts,
        "error": error[:300],
    }
    if retry_in is not None:
        said["retry_in_s"] = round(retry_in, 1)
    return said


class Outcomes:
    """Record attempts' outcomes on engine (AUTOCOMMIT); wake() once a retry is due."""

    def __init__(self, engine: AsyncEngine, schedule: list[float], wake: Callable[[], None]):
        self.engine = engine
        self.schedule = schedule
        self._wake = wake
        # Successes waiting to be written, and the signal that there are some.
        self._delivered: list[tuple[repo.Claimed, int]] = []
        self._to_record = asyncio.Event()
        self._closing = False

    def delivered(self, row: Any, code: int) -> None:
        """A success, for the recorder to write."""
        self._delivered.append((_claimed(row), code))
        self._to_record.set()

    async def record_delivered(self) -> None:
        """Write successes as they come, until close(). Each write takes every success that
        arrived while the one before was written: nothing waits for another delivery's
        attempt, and a busy relay still writes in batches."""
        while True:
            await self._to_record.wait()
            self._to_record.clear()
            await self._write_delivered()
            if self._closing:
                return

    def close(self) -> None:
        """Have the recorder write what is left and end (it is never cancelled mid-write)."""
        self._closing = True
        self._to_record.set()

    async def _write_delivered(self) -> None:
        batch, self._delivered = self._delivered, []
        if not batch:
            return
        try:
            async with self.engine.connect() as conn:
                recorded = await repo.mark_delivered(conn, batch)
        except Exception as exc:
            # Their leases run out and they are sent again (receivers deduplicate).
            log_failure(log, "webhook deliveries not recorded", exc)
            return
        metrics.count_webhooks("delivered", recorded)

    async def retry_or_fail(
        self, row: Any, *, code: int | None, error: str, wait_hint: float | None
    ) -> None:
        """A failed attempt: tried again on the schedule (no sooner than the receiver's
        Retry-After asks), or failed once the schedule is spent."""
        delay = next_delay(self.schedule, row.attempts, wait_hint)
        if delay is None:
            await self.fail(row, code=code, error=error)
            return
        async with self.engine.connect() as conn:
            status = await repo.schedule_retry(
                conn, _claimed(row), delay=timedelta(seconds=delay), code=code, error=error
            )
        if status == "failed":
            # Failed meanwhile (its subscription went off) while this attempt was under
            # way: that change left it to be counted here, as the attempt ended.
            metrics.count_webhooks("failed")
        if status != "pending":  # not recorded, or failed meanwhile
            return
        metrics.count_webhooks("retry")
        log.info("webhook delivery attempt failed; to be retried", extra=_said(row, error, delay))
        # Claimed when due (a hair after, for the database's clock), not at the next poll:
        # SPEC §3.5's schedule allows 10 % of jitter, not a poll's second.
        asyncio.get_running_loop().call_later(delay + 0.02, self._wake)

    async def unexpected(self, row: Any, exc: Exception) -> None:
        """An attempt the relay itself failed to finish counts against the schedule as any
        failure does: left to its lease, it would be claimed again without end."""
        error = f"the relay failed: {type(exc).__name__}: {exc}"[:500]
        try:
            await self.retry_or_fail(row, code=None, error=error, wait_hint=None)
        except Exception as failure:
            # Its lease runs out and it is claimed again (as another attempt).
            log_failure(log, "webhook delivery attempt not recorded", failure)

    async def gone(self, row: Any, code: int) -> None:
        """The receiver answered 410: its subscription is turned off, the delivery failed."""
        async with self.engine.connect() as conn:
            failed = await repo.disable_subscription(
                conn,
                subscription_id=row.subscription_id,
                delivery_id=row.id,
                reason="receiver answered 410 Gone",
            )
        metrics.count_webhooks("failed", failed)
        await self.fail(row, code=code, error="410 Gone: subscription disabled")

    async def fail(self, row: Any, *, code: int | None, error: str) -> None:
        async with self.engine.connect() as conn:
            was = await repo.mark_failed(conn, _claimed(row), code=code, error=error)
        if was is not None:  # failed meanwhile too: counted as its attempt ends
            metrics.count_webhooks("failed")
        if was == "pending":
            log.warning("webhook delivery failed; no attempt left", extra=_said(row, error))

    async def fail_unsent(self, row: Any, *, error: str) -> None:
        """Fail a delivery never sent: its claim's attempt is not counted."""
        async with self.engine.connect() as conn:
            was = await repo.mark_failed_unsent(
                conn, _claimed(row), previous_attempt_at=row.previous_attempt_at, error=error
            )
        if was is not None:
            metrics.count_webhooks("failed")
        if was == "pending":
            log.warning("webhook delivery failed unsent", extra=_said(row, error))
