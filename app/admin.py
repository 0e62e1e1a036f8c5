"""Operations the CLI runs directly against the database."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.engine import create_engine, create_sessionmaker
from app.ids import new_id
from app.models import AuditEntry
from app.repositories.agencies import get_agency, insert_agency, insert_api_key
from app.repositories.roster import get_co_responder, get_officer


class AdminError(Exception):
    pass


async def create_agency(url: str, *, name: str, timezone: str, ori: str | None) -> tuple[UUID, str]:
    """Create an agency with the default policy and return its id and first admin key."""
    engine = create_engine(url, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            agency = await insert_agency(session, name=name, timezone=timezone, ori=ori)
            row, key = await insert_api_key(session, agency_id=agency.id, role="admin")
            _audit(session, agency.id, "agency.create", "agency", agency.id, {"name": name})
            _audit(session, agency.id, "api_key.create", "api_key", row.id, {"role": "admin"})
            return agency.id, key
    finally:
        await engine.dispose()


async def create_key(url: str, *, agency_id: UUID, role: str, responder_id: UUID | None) -> str:
    engine = create_engine(url, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            if await get_agency(session, agency_id) is None:
                raise AdminError(f"no agency {agency_id}")
            responder_type = None
            if responder_id is not None:
                if await get_officer(session, agency_id=agency_id, officer_id=responder_id):
                    responder_type = "officer"
                elif await get_co_responder(
                    session, agency_id=agency_id, co_responder_id=responder_id
                ):
                    responder_type = "co_responder"
                else:
                    raise AdminError(f"agency {agency_id} has no responder {responder_id}")
            row, key = await insert_api_key(
                session,
                agency_id=agency_id,
                role=role,
                responder_type=responder_type,
                responder_id=responder_id,
            )
            _audit(session, agency_id, "api_key.create", "api_key", row.id, {"role": role})
            return key
    finally:
        await engine.dispose()


def _audit(
    session: AsyncSession,
    agency_id: UUID,
    action: str,
    resource_type: str,
    resource_id: UUID,
    detail: dict[str, str],
) -> None:
    """The CLI writes to the audit trail too, as role `cli` with no key."""
    session.add(
        AuditEntry(
            id=new_id(),
            agency_id=agency_id,
            at=datetime.now(UTC),
            key_id=None,
            role="cli",
            action=action,
            resource_type=resource_type,
            resource_id=str(resource_id),
            outcome="success",
            request_id=None,
            detail={**detail, "via": "cli"},
        )
    )
