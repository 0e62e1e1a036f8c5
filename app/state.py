"""Process-wide state built in lifespan: the engine, the data cipher and the caches."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.agency_context import AgencyContext
from app.cache import TtlCache
from app.db.engine import create_sessionmaker
from app.encryption import DataCipher
from app.errors import Unauthorized
from app.repositories.agencies import find_principal, load_agency_context
from app.security import Principal, hash_key
from app.settings import Settings


class AppState:
    def __init__(self, settings: Settings, engine: AsyncEngine, cipher: DataCipher) -> None:
        self.settings = settings
        self.engine = engine
        # Encrypts and decrypts call notes and webhook secrets at rest.
        self.cipher = cipher
        # Single-statement reads and writes run in autocommit: one round trip, no BEGIN/COMMIT.
        self.autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.sessionmaker: async_sessionmaker[AsyncSession] = create_sessionmaker(engine)
        self._principals: TtlCache[bytes, Principal] = TtlCache(settings.cache_ttl_seconds)
        self._contexts: TtlCache[UUID, AgencyContext] = TtlCache(settings.cache_ttl_seconds)

    async def authenticate(self, secret: str) -> Principal:
        digest = hash_key(secret)
        principal = self._principals.get(digest)
        if principal is None:
            async with self.autocommit.connect() as conn:
                principal = await find_principal(conn, digest)
            if principal is None:
                raise Unauthorized("The API key is not valid")
            self._principals.put(digest, principal)
        return principal

    async def agency_context(self, agency_id: UUID) -> AgencyContext:
        context = self._contexts.get(agency_id)
        if context is None:
            async with self.autocommit.connect() as conn:
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
