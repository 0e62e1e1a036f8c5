"""SQL for agencies, API keys and the cached agency context."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import Row, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.agency_context import AgencyContext, DistrictInfo, prepare_boundaries
from app.models import Agency, ApiKey, RoutingPolicy
from app.routing.types import Policy
from app.security import Principal, generate_key


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
    """Store a new key's hash and return the row with the key itself (shown once)."""
    new = generate_key()
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
    session.add(row)
    await session.flush()
    return row, new.secret


async def get_agency(session: AsyncSession, agency_id: UUID) -> Agency | None:
    return await session.get(Agency, agency_id)


# A definer-rights function (migration 0006): the agency is not known before the key is.
_FIND_KEY = text(
    "SELECT id, agency_id, role, responder_type, responder_id, prefix"
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
    )


async def latest_policy(session: AsyncSession, agency_id: UUID) -> RoutingPolicy:
    stmt = (
        select(RoutingPolicy)
        .where(RoutingPolicy.agency_id == agency_id)
        .order_by(RoutingPolicy.version.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one()


_CONTEXT_AGENCY = text(
    "SELECT a.timezone, a.longest_shift, p.version, p.safety_flags, p.nature_flags,"
    " p.le_backup_for_mh_lead, p.adjacency_depth, p.speed_kmh FROM agency a"
    " JOIN LATERAL (SELECT * FROM routing_policy rp WHERE rp.agency_id = a.id"
    " ORDER BY rp.version DESC LIMIT 1) p ON true WHERE a.id = :agency_id"
)
_CONTEXT_DISTRICTS = text("SELECT id, code, boundary FROM district WHERE agency_id = :agency_id")
_CONTEXT_ADJACENCY = text(
    "SELECT district_a_id, district_b_id FROM district_adjacency WHERE agency_id = :agency_id"
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
    )


async def load_agency_context(conn: AsyncConnection, agency_id: UUID) -> AgencyContext | None:
    params = {"agency_id": agency_id}
    head = (await conn.execute(_CONTEXT_AGENCY, params)).first()
    if head is None:
        return None
    districts = (await conn.execute(_CONTEXT_DISTRICTS, params)).all()
    by_id = {row.id: DistrictInfo(id=row.id, code=row.code) for row in districts}
    adjacency: dict[str, set[str]] = defaultdict(set)
    for a_id, b_id in (await conn.execute(_CONTEXT_ADJACENCY, params)).all():
        a, b = by_id[a_id].code, by_id[b_id].code
        adjacency[a].add(b)
        adjacency[b].add(a)
    return AgencyContext(
        agency_id=agency_id,
        timezone=ZoneInfo(head.timezone),
        policy=routing_policy(head),
        districts_by_code={info.code: info for info in by_id.values()},
        districts_by_id=by_id,
        adjacency={code: frozenset(n) for code, n in adjacency.items()},
        boundaries=prepare_boundaries([(row.code, row.boundary) for row in districts]),
        longest_shift=head.longest_shift,
    )
