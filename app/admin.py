"""Operations the CLI runs directly against the database."""

from __future__ import annotations

from uuid import UUID

from app.db.engine import create_engine, create_sessionmaker
from app.repositories.agencies import (
    agency_by_ori,
    agency_named,
    all_agencies,
    get_agency,
    insert_agency,
    lock_agency_name,
    zone_known,
)
from app.repositories.keys import insert_api_key
from app.repositories.roster import responder_kind
from app.services import audit


class AdminError(Exception):
    """What the user asked for cannot be done (the CLI prints it in one line)."""


async def create_agency(url: str, *, name: str, timezone: str, ori: str | None) -> tuple[UUID, str]:
    """Create an agency with the default policy and return its id and first admin key."""
    engine = create_engine(url, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            if ori is not None and (same := await agency_by_ori(session, ori)) is not None:
                raise AdminError(f"agency {same.id} already has the ORI {ori}")
            # Two runs at once (a provisioning script's retry) take turns on the name.
            await lock_agency_name(session, name)
            if (same := await agency_named(session, name)) is not None:
                # Most likely the same agency made again, its first key's output lost.
                raise AdminError(
                    f"agency {same.id} is already named {same.name!r}: for a new admin key of"
                    f" it, run `cit-dispatch api-key create --agency {same.id} --role admin`;"
                    " another agency needs a name that tells the two apart"
                )
            if not await zone_known(session, timezone):
                # The reports read the zone in SQL: an unknown one would make them a 500.
                raise AdminError(
                    f"--timezone: the database does not know the timezone {timezone!r}"
                    " (its time zone data may be older than this host's)"
                )
            agency = await insert_agency(session, name=name, timezone=timezone, ori=ori)
            row, key = await insert_api_key(session, agency_id=agency.id, role="admin")
            conn = await session.connection()
            for entry in (
                audit.cli_entry(
                    agency.id,
                    action="agency.create",
                    resource_type="agency",
                    resource_id=agency.id,
                    detail={"name": name},
                ),
                audit.cli_entry(
                    agency.id,
                    action="api_key.create",
                    resource_type="api_key",
                    resource_id=row.id,
                    detail={"role": "admin"},
                ),
            ):
                await audit.write(conn, entry)
            return agency.id, key
    finally:
        await engine.dispose()


async def list_agencies(url: str) -> list[dict[str, str | None]]:
    """Every agency on the database: id, name, timezone and ORI, oldest first."""
    engine = create_engine(url, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            return [
                {"agency_id": str(a.id), "name": a.name, "timezone": a.timezone, "ori": a.ori}
                for a in await all_agencies(session)
            ]
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
                responder_type = await responder_kind(
                    session, agency_id=agency_id, responder_id=responder_id
                )
                if responder_type is None:
                    raise AdminError(f"agency {agency_id} has no active responder {responder_id}")
            row, key = await insert_api_key(
                session,
                agency_id=agency_id,
                role=role,
                responder_type=responder_type,
                responder_id=responder_id,
            )
            entry = audit.cli_entry(
                agency_id,
                action="api_key.create",
                resource_type="api_key",
                resource_id=row.id,
                detail={"role": role},
            )
            await audit.write(await session.connection(), entry)
            return key
    finally:
        await engine.dispose()
