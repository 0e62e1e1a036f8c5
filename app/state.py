"""Process-wide state built in lifespan: engines, data cipher, caches and limits."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from app.agency_context import AgencyContext
from app.cache import TtlCache
from app.db.engine import agency_transaction, create_sessionmaker
from app.encryption import DataCipher
from app.errors import TooManyRequests, Unauthorized
from app.limits import FailedAuthThrottle, RateLimiter
from app.repositories.agencies import find_principal, load_agency_context
from app.security import Principal, hash_key, key_prefix
from app.services.audit import AuditNote, write_note
from app.settings import Settings

log = logging.getLogger(__name__)
# Failed authentications one client address may make across all key prefixes, as a
# multiple of the per-key limit: guessing with ever new prefixes is stopped too.
CLIENT_BUDGET = 20
_AUTH_FAILURE = text("SELECT cit_record_auth_failure(:prefix, :request_id, CAST(:detail AS jsonb))")


class AppState:
    def __init__(
        self, settings: Settings, engine: AsyncEngine, system: AsyncEngine, cipher: DataCipher
    ) -> None:
        """engine connects as the application role, bound by row-level security; system
        as the schema owner, for housekeeping across agencies (expiry, audit retention)."""
        self.settings = settings
        self.engine = engine
        self.system_engine = system
        self.system = system.execution_options(isolation_level="AUTOCOMMIT")
        # Encrypts and decrypts call notes and webhook secrets at rest.
        self.cipher = cipher
        # Single-statement reads and writes run in autocommit: one round trip, no BEGIN/COMMIT.
        self.autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.sessionmaker: async_sessionmaker[AsyncSession] = create_sessionmaker(engine)
        self._principals: TtlCache[bytes, Principal] = TtlCache(settings.cache_ttl_seconds)
        self._contexts: TtlCache[UUID, AgencyContext] = TtlCache(settings.cache_ttl_seconds)
        self.auth_throttle: FailedAuthThrottle[tuple[str, str | None]] = FailedAuthThrottle(
            settings.auth_failure_limit, settings.auth_lockout_seconds
        )
        # However many prefixes it tries, one address gets CLIENT_BUDGET times as many.
        self.client_throttle: FailedAuthThrottle[str] = FailedAuthThrottle(
            settings.auth_failure_limit * CLIENT_BUDGET, settings.auth_lockout_seconds
        )
        self.rate_limiter: RateLimiter[UUID] = RateLimiter(settings.rate_limit_per_minute)

    @asynccontextmanager
    async def agency(self, agency_id: UUID) -> AsyncIterator[AsyncConnection]:
        """A transaction that sees only this agency's rows."""
        async with agency_transaction(self.autocommit, agency_id) as conn:
            yield conn

    async def authenticate(
        self, secret: str | None, *, client: str, request_id: str | None
    ) -> Principal:
        """The key's principal; 401 for a missing or bad key, 429 during a lockout.

        Failures count per client address and presented key prefix: five bad tries at one
        key lock that key out from that client (CJIS's account lockout), and five bad or
        missing keys lock out prefix-less attempts. Other consoles behind the same address
        keep working with their own keys, unless the address fails CLIENT_BUDGET times as
        often in all.
        """
        prefix = key_prefix(secret)
        attempt = (client, prefix)
        wait = self.auth_throttle.retry_after(attempt) or self.client_throttle.retry_after(client)
        if wait is not None:
            raise TooManyRequests("Too many failed authentications from this client", wait)
        principal = None
        if secret is not None:
            digest = hash_key(secret)
            principal = self._principals.get(digest)
            if principal is None:
                async with self.autocommit.connect() as conn:
                    principal = await find_principal(conn, digest)
                if principal is not None:
                    self._principals.put(digest, principal)
        if principal is None:
            self.auth_throttle.failed(attempt)
            self.client_throttle.failed(client)
            await self.record_auth_failure(prefix, client=client, request_id=request_id)
            raise Unauthorized() if secret is None else Unauthorized("The API key is not valid")
        self.auth_throttle.succeeded(attempt)
        wait = self.rate_limiter.take(principal.key_id)
        if wait is not None:
            raise TooManyRequests("This API key's request rate limit is exceeded", wait)
        return principal

    async def record_auth_failure(
        self, prefix: str | None, *, client: str, request_id: str | None
    ) -> None:
        """Audit a failed authentication with the key's public prefix only, never the key."""
        detail = json.dumps({"key_prefix": prefix, "client": client})
        try:
            async with self.autocommit.connect() as conn:
                await conn.execute(
                    _AUTH_FAILURE, {"prefix": prefix, "request_id": request_id, "detail": detail}
                )
        except Exception:  # The 401 stands even if the trail cannot be written right now.
            log.warning("could not audit a failed authentication", exc_info=True)

    async def audit_apart(self, note: AuditNote, outcome: str) -> None:
        """Record a denied or failed request in a transaction of its own."""
        try:
            async with self.agency(note.who.agency_id) as conn:
                await write_note(conn, note, outcome)
        except Exception:
            log.warning("could not write an audit entry", exc_info=True)

    def forget_key(self, digest: bytes) -> None:
        """Drop a revoked key from this process's cache at once."""
        self._principals.discard(digest)

    async def agency_context(self, agency_id: UUID) -> AgencyContext:
        context = self._contexts.get(agency_id)
        if context is None:
            async with self.agency(agency_id) as conn:
                context = await load_agency_context(conn, agency_id)
            if context is None:
                raise Unauthorized("The API key's agency no longer exists")
            self._contexts.put(agency_id, context)
        return context

    def invalidate_agency(self, agency_id: UUID) -> None:
        """Forget the cached context after a district or policy change in this process."""
        self._contexts.discard(agency_id)

    async def ping_database(self) -> None:
        async with self.autocommit.connect() as conn:
            await conn.execute(text("SELECT 1"))
