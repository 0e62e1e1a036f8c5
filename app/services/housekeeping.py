"""Clean-up jobs that run inside `serve` for as long as it runs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from app.services import audit_retention, idempotency
from app.state import AppState

log = logging.getLogger(__name__)


async def every(
    seconds: float, job: Callable[[AppState], Awaitable[int]], state: AppState, what: str
) -> None:
    """Run job now and then every `seconds`; a failure (e.g. the database briefly down) is
    logged and retried next round."""
    while True:
        try:
            removed = await job(state)
            if removed:
                log.info("housekeeping removed rows", extra={"job": what, "removed": removed})
        except Exception:
            log.warning("housekeeping failed", extra={"job": what}, exc_info=True)
        await asyncio.sleep(seconds)


def jobs(state: AppState) -> list[Coroutine[Any, Any, None]]:
    return [
        every(600, idempotency.expire, state, "expired idempotency keys"),
        every(86_400, audit_retention.purge, state, "audit entries past retention"),
    ]
