"""Versioned routing policy: every change is a new version; old ones are kept."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, NotFound, PreconditionFailed
from app.models import RoutingPolicy
from app.repositories.agencies import latest_policy, lock_policy, policy_version
from app.schemas.policy import PolicyIn, PolicyOut
from app.services import audit


async def current(session: AsyncSession, *, agency_id: UUID) -> PolicyOut:
    return PolicyOut.model_validate(await latest_policy(session, agency_id), from_attributes=True)


async def version(session: AsyncSession, *, agency_id: UUID, version: int) -> PolicyOut:
    row = await policy_version(session, agency_id, version)
    if row is None:
        raise NotFound(f"the policy has no version {version}")
    return PolicyOut.model_validate(row, from_attributes=True)


def etag(version: int) -> str:
    """The entity tag of the policy at this version (GET and PUT give it as ETag)."""
    return f'"{version}"'


async def replace(
    session: AsyncSession,
    *,
    agency_id: UUID,
    body: PolicyIn,
    precondition: Callable[[str], bool] | None = None,
) -> tuple[PolicyOut, dict[str, dict[str, Any]]]:
    """The new version, and each field it changed, from and to (for the audit trail: the
    version it replaced is otherwise read nowhere). With a precondition (If-Match), only
    over the version it names: a 412 over another, so that of two consoles that read one
    version, the second to write back does not undo the first's change unseen."""
    # PUTs take turns: each reads the version in force after the one before it committed,
    # so two writing back one version with If-Match give a 200 and a 412 (not a 409).
    await lock_policy(session, agency_id)
    previous = await latest_policy(session, agency_id)
    if precondition is not None and not precondition(etag(previous.version)):
        raise PreconditionFailed(
            f"the policy in force is version {previous.version} (ETag {etag(previous.version)}),"
            " not the one If-Match names: read it again, change it and write it back"
        )
    was = _fields(PolicyOut.model_validate(previous, from_attributes=True))
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
    out = PolicyOut.model_validate(row, from_attributes=True)
    return out, audit.changes(was, _fields(out))


def _fields(policy: PolicyOut) -> dict[str, Any]:
    """What a PUT sets, as JSON (not the version or its time, which every PUT changes)."""
    return policy.model_dump(mode="json", exclude={"version", "created_at"})
