"""Operations the CLI runs directly against the database."""

from __future__ import annotations

from uuid import UUID

from app.db.engine import create_engine, create_sessionmaker
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
            _, key = await insert_api_key(session, agency_id=agency.id, role="admin")
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
            _, key = await insert_api_key(
                session,
                agency_id=agency_id,
                role=role,
                responder_type=responder_type,
                responder_id=responder_id,
            )
            return key
    finally:
        await engine.dispose()
