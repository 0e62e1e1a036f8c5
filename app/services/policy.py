"""Versioned routing policy: every change is a new version; old ones are kept."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict
from app.models import RoutingPolicy
from app.repositories.agencies import latest_policy
from app.schemas.policy import PolicyIn, PolicyOut


async def current(session: AsyncSession, *, agency_id: UUID) -> PolicyOut:
    return PolicyOut.model_validate(await latest_policy(session, agency_id), from_attributes=True)


async def replace(session: AsyncSession, *, agency_id: UUID, body: PolicyIn) -> PolicyOut:
    previous = await latest_policy(session, agency_id)
    given = body.model_dump(exclude={"version", "created_at"})
    # A program field left out keeps its value (app/schemas/policy.py).
    kept = {field: getattr(previous, field) for field, value in given.items() if value is None}
    row = RoutingPolicy(agency_id=agency_id, version=previous.version + 1, **{**given, **kept})
    session.add(row)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict("the policy was changed at the same moment; read it and try again") from None
    await session.refresh(row)
    return PolicyOut.model_validate(row, from_attributes=True)
