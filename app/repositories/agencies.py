"""SQL for agencies, their routing policy and the cached agency context."""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import Row, column, exists, func, select, table, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.agency_context import AgencyContext, DistrictInfo, prepare_boundaries
from app.models import Agency, RoutingPolicy
from app.routing.types import Policy

# The database's time zones (a system view, read only to check a name).
pg_timezone_names = table("pg_timezone_names", column("name"))


async def zone_known(session: AsyncSession, name: str) -> bool:
    """Whether the database knows the time zone (AT TIME ZONE would take it)."""
    stmt = select(exists().where(pg_timezone_names.c.name == name))
    return bool((await session.execute(stmt)).scalar())


async def insert_agency(
    session: AsyncSession, *, name: str, timezone: str, ori: str | None
) -> Agency:
    agency = Agency(name=name, timezone=timezone, ori=ori)
    session.add(agency)
    await session.flush()
    defaults = Policy()
    session.add(
        RoutingPolicy(
            agency_id=agency.id,
            version=1,
            safety_flags=sorted(defaults.safety_flags),
            nature_flags={k: sorted(v) for k, v in defaults.nature_flags.items()},
            le_backup_for_mh_lead=defaults.le_backup_for_mh_lead,
            adjacency_depth=defaults.adjacency_depth,
            speed_kmh=defaults.speed_kmh,
        )
    )
    await session.flush()
    return agency


async def get_agency(session: AsyncSession, agency_id: UUID) -> Agency | None:
    return await session.get(Agency, agency_id)


async def agency_by_ori(session: AsyncSession, ori: str) -> Agency | None:
    return (await session.execute(select(Agency).where(Agency.ori == ori))).scalar_one_or_none()


async def _hold(session: AsyncSession, key: str) -> None:
    """A lock on key, held until the transaction ends (PostgreSQL's advisory lock)."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})


async def lock_agency_name(session: AsyncSession, name: str) -> None:
    """Hold the name (in any case) until the transaction ends: a second creation of an
    agency so named waits, then finds the first (agency_named)."""
    await _hold(session, f"agency.name:{name.lower()}")


async def all_agencies(session: AsyncSession) -> list[Agency]:
    """Every agency, oldest first (as the schema owner: no agency's row-level security)."""
    return list((await session.execute(select(Agency).order_by(Agency.created_at))).scalars())


async def agency_named(session: AsyncSession, name: str) -> Agency | None:
    """An agency with this name, in any case (the first made, should two share it)."""
    stmt = (
        select(Agency)
        .where(func.lower(Agency.name) == func.lower(name))
        .order_by(Agency.created_at)
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def lock_policy(session: AsyncSession, agency_id: UUID) -> None:
    """Hold the agency's policy for a change until the transaction ends (a later statement
    reads the version in force after any change that held it before)."""
    await _hold(session, f"policy:{agency_id}")


async def latest_policy(session: AsyncSession, agency_id: UUID) -> RoutingPolicy:
    stmt = (
        select(RoutingPolicy)
        .where(RoutingPolicy.agency_id == agency_id)
        .order_by(RoutingPolicy.version.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one()


async def policy_version(
    session: AsyncSession, agency_id: UUID, version: int
) -> RoutingPolicy | None:
    stmt = select(RoutingPolicy).where(
        RoutingPolicy.agency_id == agency_id, RoutingPolicy.version == version
    )
    return (await session.execute(stmt)).scalar_one_or_none()


_CONTEXT_AGENCY = text(
    "SELECT a.timezone, p.version, p.safety_flags, p.nature_flags,"
    " p.le_backup_for_mh_lead, p.adjacency_depth, p.speed_kmh, p.eido_incident_types"
    " FROM agency a"
    " JOIN LATERAL (SELECT * FROM routing_policy rp WHERE rp.agency_id = a.id"
    " ORDER BY rp.version DESC LIMIT 1) p ON true WHERE a.id = :agency_id"
)
# The districts with their neighbours, in one statement so in one snapshot: a district
# made with its pairs, or deleted with them, between two statements would leave a pair
# naming a district the load never read.
_CONTEXT_DISTRICTS = text(
    "SELECT d.id, d.code, d.boundary, ARRAY(SELECT x.district_b_id FROM district_adjacency x"
    " WHERE x.district_a_id = d.id) AS neighbours FROM district d WHERE d.agency_id = :agency_id"
)


def routing_policy(row: RoutingPolicy | Row[Any]) -> Policy:
    """Convert a stored policy version (ORM row or Core row) to the routing dataclass."""
    return Policy(
        version=row.version,
        safety_flags=frozenset(row.safety_flags),
        nature_flags={k.upper(): frozenset(v) for k, v in row.nature_flags.items()},
        le_backup_for_mh_lead=row.le_backup_for_mh_lead,
        adjacency_depth=row.adjacency_depth,
        speed_kmh=row.speed_kmh,
        eido_incident_types=frozenset(code.upper() for code in row.eido_incident_types),
    )


async def load_agency_context(
    conn: AsyncConnection, agency_id: UUID, *, previous: AgencyContext | None = None
) -> AgencyContext | None:
    """The agency's context as stored; the boundaries that have not changed since previous
    keep their prepared geometry."""
    params = {"agency_id": agency_id}
    head = (await conn.execute(_CONTEXT_AGENCY, params)).first()
    if head is None:
        return None
    districts = (await conn.execute(_CONTEXT_DISTRICTS, params)).all()
    by_id = {row.id: DistrictInfo(id=row.id, code=row.code) for row in districts}
    adjacency: dict[str, set[str]] = defaultdict(set)
    for row in districts:
        for b_id in row.neighbours:
            a, b = row.code, by_id[b_id].code
            adjacency[a].add(b)
            adjacency[b].add(a)
    return AgencyContext(
        agency_id=agency_id,
        timezone=ZoneInfo(head.timezone),
        policy=routing_policy(head),
        districts_by_code={info.code: info for info in by_id.values()},
        adjacency={code: frozenset(n) for code, n in adjacency.items()},
        boundaries=prepare_boundaries(
            [(row.code, row.boundary) for row in districts],
            reuse=() if previous is None else previous.boundaries,
        ),
        district_codes={info.id: info.code for info in by_id.values()},
    )
