"""A unit named as the wrong kind: an officer's id sent as a co-responder's, or the other
way round. The error says which of the agency's units the id is, so a dispatcher can send
it again as what it is, or where it is found (its record, its status); it was told only
that no such unit exists. Read on the error path alone, and only among the agency's own
units: another agency's id stays unknown."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from app.agency_context import AgencyContext
from app.repositories import naming_shift
from app.repositories import roster as roster_repo
from app.vocabulary import ResponderType, invisible_escaped


async def not_in_agency(
    session: AsyncSession, context: AgencyContext, *, named_as: ResponderType, responder_id: UUID
) -> str:
    """What a dispatch naming a unit that is not the agency's named_as is told: "no such
    co-responder … in this agency", and, for the agency's unit of the other kind, which it
    is ("…: it is officer 2C11 (responder_type officer)")."""
    said = f"no such {_words(named_as)} {responder_id} in this agency"
    other = await _of_the_other_kind(
        session, context.agency_id, named_as=named_as, responder_id=responder_id
    )
    if other is None:
        return said
    kind, name = other
    return f"{said}: it is {_words(kind)} {name} (responder_type {kind})"


async def not_found_at(
    session: AsyncSession,
    agency_id: UUID,
    *,
    named_as: ResponderType,
    responder_id: UUID,
    tail: str = "",
) -> str:
    """What a request to a unit's path (its record; with tail "/status", its status) that
    is not the agency's named_as is told: "officer not found", and, for the agency's unit
    of the other kind, the path meant ("…: this id is a co-responder's (MCT-3): use
    /v1/co-responders/{id}/status")."""
    said = f"{_words(named_as)} not found"
    other = await _of_the_other_kind(
        session, agency_id, named_as=named_as, responder_id=responder_id
    )
    if other is None:
        return said
    kind, name = other
    path = f"/v1/{_words(kind)}s/{responder_id}{tail}"
    return f"{said}: this id is {_a(kind)} {_words(kind)}'s ({name}): use {path}"


def _words(kind: ResponderType) -> str:
    return kind.replace("_", "-")


def _a(kind: ResponderType) -> str:
    return "an" if kind == "officer" else "a"


async def _of_the_other_kind(
    session: AsyncSession, agency_id: UUID, *, named_as: ResponderType, responder_id: UUID
) -> tuple[ResponderType, str] | None:
    """The kind responder_id is and how a dispatcher knows it (its call sign now, else its
    name) when it is not the agency's named_as but its unit of the other kind; else None."""
    other: ResponderType = "co_responder" if named_as == "officer" else "officer"
    ids = [responder_id]
    found = await roster_repo.units_by_id(
        session,
        agency_id=agency_id,
        officer_ids=ids if other == "officer" else [],
        co_ids=ids if other == "co_responder" else [],
    )
    unit = found.get(responder_id)
    if unit is None:
        return None
    signs = await naming_shift.call_signs(
        session, agency_id=agency_id, responder_ids=ids, now=datetime.now(UTC)
    )
    return other, invisible_escaped(signs.get(responder_id) or unit.name)
