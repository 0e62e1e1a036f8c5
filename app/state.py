"""The process's container, built in lifespan: engines, the data cipher, caches and limits.

It holds things and hands out units of work; it decides nothing and runs no SQL. What
uses these lives where ARCHITECTURE.md says: authentication in app/services/auth.py, the
agency context in app/services/agency.py, the audit writer in app/services/audit.py.
"""

from __future__ import annotations

import asyncio
import logging
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncEngine

from app.agency_context import AgencyContext
from app.cache import Flights, TtlCache
from app.db.listen import Announcements
from app.db.unit_of_work import UnitOfWork
from app.encryption import DataCipher
from app.events.catalogue import EVENT_COMMITTED
from app.limits import FailureMirror, RateLeases, RefusalTally, Slots, Unproven
from app.security import Principal
from app.settings import Settings

# Failed authentications one client address may make across all key prefixes, as a
# multiple of the per-key limit: guessing with ever new prefixes is stopped too.
CLIENT_BUDGET = 20
# Seconds between audit entries for requests refused during one lockout (client, prefix).
LOCKOUT_AUDIT_WINDOW = 60.0


class AppState:
    def __init__(
        self, settings: Settings, engine: AsyncEngine, system: AsyncEngine, cipher: DataCipher
    ) -> None:
        """engine connects as the application role, bound by row-level security; system
        as the schema owner, for housekeeping across agencies (expiry, retention)."""
        self.settings = settings
        self.engine = engine
        self.system_engine = system
        self.system = system.execution_options(isolation_level="AUTOCOMMIT")
        # Units of work send their own BEGIN and COMMIT; single statements need neither.
        self.autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        # Encrypts and decrypts call notes and webhook secrets at rest.
        self.cipher = cipher
        # API keys by hash, and agency contexts; the loads of each in flight, so that
        # concurrent requests share one, and refreshes ahead of expiry (app/cache.py).
        self.principals: TtlCache[bytes, Principal] = TtlCache(settings.cache_ttl_seconds)
        self.principal_loads: Flights[bytes, Principal | None] = Flights("API key")
        self.contexts: TtlCache[UUID, AgencyContext] = TtlCache(settings.cache_ttl_seconds)
        self.context_loads: Flights[UUID, AgencyContext] = Flights("agency context")
        # Failed authentications and key rates are counted in the database for every
        # instance (app/services/auth.py); this instance keeps a copy of the counts, kept
        # current by announcements, and its share of each key's bucket.
        self.failures = FailureMirror(float(settings.auth_lockout_seconds))
        self.unproven = Unproven()
        self.rate = RateLeases[UUID](settings.rate_limit_per_minute)
        # Takes from a key's shared bucket in flight, so concurrent requests share one.
        self.rate_takes: dict[UUID, asyncio.Task[None]] = {}
        # Requests refused during a lockout: one audit entry per (address, prefix) a minute.
        self.lockout_refusals: RefusalTally[tuple[str, str | None]] = RefusalTally(
            LOCKOUT_AUDIT_WINDOW
        )
        # The process's one LISTEN connection: for the live feeds and for changes other
        # instances announce (app/services/changes.py); the cap on how many feeds are
        # open, and on how many read at once (requests keep the pool).
        self.announcements = Announcements(
            self.autocommit, EVENT_COMMITTED, log=logging.getLogger("app.services.stream")
        )
        self.streams = Slots(settings.max_streams, settings.max_streams_per_key)
        self.stream_reads = asyncio.Semaphore(max(1, settings.db_pool_size // 4))

    def unit_of_work(self, agency_id: UUID, *, read_only: bool = False) -> UnitOfWork:
        """A transaction that sees only this agency's rows (begun on first use)."""
        return UnitOfWork(self.autocommit, agency_id, read_only=read_only)
