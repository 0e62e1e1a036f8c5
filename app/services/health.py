"""Readiness: whether the database answers, within a bound."""

from __future__ import annotations

import asyncio

from app.repositories import health as repo
from app.state import AppState

# Checks abandoned at the bound, still unwinding (a reference keeps each task alive).
_abandoned: set[asyncio.Task[None]] = set()


async def check_database(state: AppState) -> None:
    """One round trip to the database through the request pool; raises when it is
    unavailable, and TimeoutError when it has not answered within
    CIT_READYZ_TIMEOUT_SECONDS (a hung server accepts connections and never answers)."""
    check = asyncio.create_task(_ping(state))
    done, _ = await asyncio.wait({check}, timeout=state.settings.readyz_timeout_seconds)
    if not done:
        # Cancelled apart: discarding its connection (SQLAlchemy invalidates a connection
        # whose statement was cancelled) may itself wait on the hung server.
        check.cancel()
        _abandoned.add(check)
        check.add_done_callback(_forget)
        raise TimeoutError("the database did not answer in time")
    check.result()


async def _ping(state: AppState) -> None:
    async with state.autocommit.connect() as conn:
        await repo.ping(conn)


def _forget(task: asyncio.Task[None]) -> None:
    _abandoned.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: a hung check's late failure is expected, not news
