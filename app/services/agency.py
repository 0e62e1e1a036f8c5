"""The agency context every request needs (zone, districts, adjacency, policy), cached.

Each instance keeps it for CIT_CACHE_TTL_SECONDS. A change made on this instance drops it
at once (forget); one made on another instance shows within the TTL, except that a
request naming a district this instance does not know yet reloads it first (knowing), so
a district added elsewhere a moment ago is found, not refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from app.agency_context import AgencyContext
from app.errors import Unauthorized
from app.repositories.agencies import load_agency_context
from app.state import AppState


async def context(state: AppState, agency_id: UUID) -> AgencyContext:
    """The agency's context, from this instance's cache when it is fresh enough."""
    cached = state.contexts.get(agency_id)
    return cached if cached is not None else await reload(state, agency_id)


async def reload(state: AppState, agency_id: UUID) -> AgencyContext:
    """The agency's context as the database has it now (and cache it)."""
    async with state.unit_of_work(agency_id, read_only=True) as work:
        loaded = await load_agency_context(await work.connection(), agency_id)
    if loaded is None:
        raise Unauthorized("The API key's agency no longer exists")
    state.contexts.put(agency_id, loaded)
    return loaded


async def knowing(
    state: AppState,
    current: AgencyContext,
    *,
    codes: Iterable[str] = (),
    point: tuple[float, float] | None = None,
) -> AgencyContext:
    """current, or a reloaded context if current does not know a district the request
    names (by code, or by a point no known boundary holds)."""
    known = all(code in current.districts_by_code for code in codes) and (
        point is None or current.locate(*point) is not None
    )
    return current if known else await reload(state, current.agency_id)


def forget(state: AppState, agency_id: UUID) -> None:
    """Drop the cached context after a district, shift or policy change on this instance."""
    state.contexts.discard(agency_id)
