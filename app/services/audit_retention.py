"""Audit retention: entries older than CIT_AUDIT_RETENTION_DAYS are purged (daily, by
housekeeping)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from app.state import AppState

# The only way an entry ever leaves the trail (migration 0006); it refuses under a year.
_PURGE = text("SELECT cit_purge_audit(:keep)")


async def purge(state: AppState) -> int:
    keep = timedelta(days=state.settings.audit_retention_days)
    async with state.system.connect() as conn:
        removed: int = (await conn.execute(_PURGE, {"keep": keep})).scalar_one()
    return removed
