"""Readiness: whether the database answers."""

from __future__ import annotations

from app.repositories import health as repo
from app.state import AppState


async def check_database(state: AppState) -> None:
    """One round trip to the database; raises when it is unavailable."""
    async with state.autocommit.connect() as conn:
        await repo.ping(conn)
