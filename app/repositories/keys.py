"""SQL for API keys: issuing, looking up, listing and revoking them."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import Row, Select, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app import security
from app.db.failures import constraint_of
from app.models import ApiKey
from app.security import Principal

# How often a new key's prefix is drawn before a clash is given up as no chance: with a
# million keys, four clashes in a row are about one in 10^14.
_PREFIX_DRAWS = 4


async def insert_api_key(
    session: AsyncSession,
    *,
    agency_id: UUID,
    role: str,
    responder_type: str | None = None,
    responder_id: UUID | None = None,
    name: str | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Store a new key's hash and return the row with the key itself (shown once). Its
    public prefix is 32 random bits, unique among every agency's keys: one that is taken
    already is drawn again."""

    async def draw() -> tuple[ApiKey, str]:
        new = security.generate_key()
        row = ApiKey(
            agency_id=agency_id,
            role=role,
            responder_type=responder_type,
            responder_id=responder_id,
            prefix=new.prefix,
            key_hash=new.digest,
            name=name,
            expires_at=expires_at,
        )
        async with session.begin_nested():
            session.add(row)
            await session.flush()
        return row, new.secret

    for _ in range(_PREFIX_DRAWS - 1):
        try:
            return await draw()
        except IntegrityError as exc:
            if constraint_of(exc) != "uq_api_key_prefix":
                raise
    return await draw()


# A definer-rights function (migrations 0006, 0015): the agency is not known before the key is.
_FIND_KEY = text(
    "SELECT id, agency_id, role, responder_type, responder_id, prefix, expires_at"
    " FROM cit_authenticate(:digest)"
)


async def find_principal(conn: AsyncConnection, digest: bytes) -> Principal | None:
    row = (await conn.execute(_FIND_KEY, {"digest": digest})).first()
    if row is None:
        return None
    return Principal(
        key_id=row.id,
        agency_id=row.agency_id,
        role=row.role,
        responder_type=row.responder_type,
        responder_id=row.responder_id,
        prefix=row.prefix,
        expires_at=row.expires_at,
    )


def keys_statement(agency_id: UUID) -> Select[ApiKey]:
    return select(ApiKey).where(ApiKey.agency_id == agency_id)


async def get_key(session: AsyncSession, *, agency_id: UUID, key_id: UUID) -> ApiKey | None:
    stmt = keys_statement(agency_id).where(ApiKey.id == key_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def lock_admin_keys(session: AsyncSession, *, agency_id: UUID) -> dict[UUID, datetime | None]:
    """The agency's admin keys still valid, each with its expiry, locked FOR UPDATE in id
    order: two revocations at once take turns, and the second sees the first's."""
    stmt = (
        select(ApiKey.id, ApiKey.expires_at)
        .where(
            ApiKey.agency_id == agency_id,
            ApiKey.role == "admin",
            ApiKey.revoked_at.is_(None),
            or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > func.now()),
        )
        .order_by(ApiKey.id)
        .with_for_update()
    )
    return {row.id: row.expires_at for row in await session.execute(stmt)}


async def revoke_unit_keys(
    session: AsyncSession, *, agency_id: UUID, responder_id: UUID, at: datetime
) -> list[Row[UUID, str, bytes]]:
    """Revoke the responder's unit keys still valid: each one's id, prefix and hash (for
    caches to drop; the change is announced to every instance too: migration 0015's
    trigger)."""
    stmt = (
        update(ApiKey)
        .where(
            ApiKey.agency_id == agency_id,
            ApiKey.responder_id == responder_id,
            ApiKey.revoked_at.is_(None),
        )
        .values(revoked_at=at)
        .returning(ApiKey.id, ApiKey.prefix, ApiKey.key_hash)
        .execution_options(synchronize_session=False)
    )
    return list((await session.execute(stmt)).all())
