"""Audit retention: entries older than CIT_AUDIT_RETENTION_DAYS are purged once a day."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import text

from app.state import AppState

log = logging.getLogger(__name__)
# The only way an entry ever leaves the trail (migration 0006); it refuses under a year.
_PURGE = text("SELECT cit_purge_audit(:keep)")


async def purge(state: AppState) -> int:
    keep = timedelta(days=state.settings.audit_retention_days)
    async with state.system.connect() as conn:
        removed: int = (await conn.execute(_PURGE, {"keep": keep})).scalar_one()
    return removed


async def purge_periodically(state: AppState, every_seconds: float = 86_400) -> None:
    while True:
        try:
            removed = await purge(state)
            if removed:
                log.info("purged audit entries past retention", extra={"removed": removed})
        except Exception:
            log.warning("audit retention purge failed", exc_info=True)
        await asyncio.sleep(every_seconds)
