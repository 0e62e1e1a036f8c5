"""The agency context every request needs (zone, districts, adjacency, policy), cached.

Each instance keeps it for CIT_CACHE_TTL_SECONDS. A change made on this instance drops it
at once (forget); one made on another instance is announced by the database and dropped
within a second (app/services/changes.py), the TTL being the safety net. A request naming
a district this instance does not know yet reloads it first (knowing), so a district added
elsewhere a moment ago is found, not refused.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from uuid import UUID

from app.agency_context import AgencyContext
from app.errors import Invalid, Unauthorized
from app.repositories.agencies import load_agency_context
from app.state import AppState


async def context(state: AppState, agency_id: UUID) -> AgencyContext:
    """The agency's context, from this instance's cache when it is fresh enough.

    When it has expired, the requests that find it so share one load: a busy console floor
    would otherwise reload it once per request in flight. Past half its life, the first
    request to use it starts that load behind it, and goes on with the context it has.
    """
    load = functools.partial(_load, state, agency_id)
    return await state.context_loads.read(state.contexts, agency_id, load)


async def reload(state: AppState, agency_id: UUID) -> AgencyContext:
    """The agency's context as the database has it now (and cache it): from a load begun
    after this call, which the requests that miss a district at the same moment share
    (a burst of calls outside every boundary would otherwise load it once each)."""
    return await state.context_loads.fresh(agency_id, functools.partial(_load, state, agency_id))


async def _load(state: AppState, agency_id: UUID) -> AgencyContext:
    read_at = state.contexts.generation
    previous = state.contexts.get(agency_id)  # a refresh: its boundaries may be reused
    async with state.unit_of_work(agency_id, read_only=True) as work:
        loaded = await load_agency_context(await work.connection(), agency_id, previous=previous)
    if loaded is None:
        raise Unauthorized("The API key's agency no longer exists")
    # A change announced while this load ran may not be in what it read.
    state.contexts.put(agency_id, loaded, read_at=read_at)
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
    """Drop the cached context after a district or policy change, made on this instance or
    announced by another; a load begun before the change is not shared from now on."""
    state.contexts.discard(agency_id)
    state.context_loads.forget(agency_id)


def district_id_of(context: AgencyContext, code: str | None) -> UUID | None:
    """The id of the district a request is limited to (a report, the units); an unknown
    code is a 422."""
    if code is None:
        return None
    info = context.districts_by_code.get(code)
    if info is None:
        raise Invalid(context.unknown_district(code), loc=("query", "district"))
    return info.id
