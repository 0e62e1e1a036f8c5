"""Officers and co-responders (certifications: app/services/certifications.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.agency_context import AgencyContext
from app.db.failures import constraint_of
from app.db.unit_of_work import read_after_failure
from app.errors import Conflict, NotFound, OfficerExists
from app.models import CoResponder, Officer
from app.repositories import roster as repo
from app.repositories.pagination import fetch_page
from app.schemas.common import GeoLocation, geo_location
from app.schemas.roster import (
    CitStatus,
    CoResponderCreate,
    CoResponderOut,
    CoResponderPatch,
    OfficerCreate,
    OfficerOut,
    OfficerPatch,
)
from app.security import Principal
from app.services import audit, separation, unit_kind
from app.vocabulary import person_id


def _location(row: Officer | CoResponder) -> GeoLocation | None:
    return geo_location(row.lat, row.lon)


async def render_officers(
    session: AsyncSession, context: AgencyContext, officers: Sequence[Officer]
) -> list[OfficerOut]:
    today = datetime.now(context.timezone).date()
    certs = await repo.valid_certifications(
        session, state_officer_ids=[o.state_officer_id for o in officers], on=today
    )
    out = []
    for o in officers:
        cert = certs.get(o.state_officer_id)
        cit = (
            CitStatus(
                certified=True,
                certification_number=cert.certification_number,
                expires_on=cert.expires_on,
            )
            if cert
            else CitStatus(certified=False)
        )
        out.append(
            OfficerOut(
                id=o.id,
                state_officer_id=o.state_officer_id,
                badge_number=o.badge_number,
                name=o.name,
                trainings=o.trainings,
                active=o.active,
                separated_at=o.separated_at,
                status=o.status,
                location=_location(o),
                cit=cit,
            )
        )
    return out


# The agency's unique indexes on its active officers, and the field each holds.
_ACTIVE_OFFICER_UNIQUE = {
    "uq_officer_active_state_officer_id": "state_officer_id",
    "uq_officer_active_badge_number": "badge_number",
}


def _unique_values(officer: Officer) -> dict[str, str]:
    """The officer's values under the unique indexes, read before a flush that may fail
    (its rollback expires them)."""
    return {field: getattr(officer, field) for field in _ACTIVE_OFFICER_UNIQUE.values()}


async def _duplicate_officer(
    session: AsyncSession,
    exc: IntegrityError,
    context: AgencyContext,
    wanted: dict[str, str],
    *,
    other_than: UUID | None,
) -> Conflict:
    """The 409 for an officer clashing with an active one: the field and, as a call's 409
    names its call, the officer who holds it (officer_id), so a roster sync can find them.
    It reads in a fresh transaction: the request is refused, so nothing it did is kept."""
    field = _ACTIVE_OFFICER_UNIQUE.get(constraint_of(exc) or "")
    if field is None:
        raise exc  # no clash with an active officer: not a 409
    holder = await repo.active_officer_with(
        await read_after_failure(session),
        agency_id=context.agency_id,
        field=field,
        value=wanted[field],
        other_than=other_than,
    )
    if holder is None:  # deactivated since the clash: a retry can succeed
        return Conflict(f"an active officer of the agency had this {field}; retry")
    return OfficerExists(holder, field)


async def create_officer(
    session: AsyncSession, context: AgencyContext, body: OfficerCreate
) -> OfficerOut:
    officer = Officer(
        agency_id=context.agency_id,
        state_officer_id=body.state_officer_id,
        badge_number=body.badge_number,
        name=body.name,
        trainings=sorted(set(body.trainings)),
        active=body.active,
        separated_at=None if body.active else datetime.now(UTC),
    )
    if not body.active:
        officer.serving_since = None  # never served: no shift may be entered for them
    session.add(officer)
    wanted = _unique_values(officer)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise await _duplicate_officer(session, exc, context, wanted, other_than=None) from None
    return (await render_officers(session, context, [officer]))[0]


async def get_officer(session: AsyncSession, *, agency_id: UUID, officer_id: UUID) -> Officer:
    officer = await repo.get_officer(session, agency_id=agency_id, officer_id=officer_id)
    if officer is None:
        raise NotFound(
            await unit_kind.not_found_at(
                session, agency_id, named_as="officer", responder_id=officer_id
            )
        )
    return officer


async def update_officer(
    session: AsyncSession,
    context: AgencyContext,
    officer_id: UUID,
    body: OfficerPatch,
    *,
    who: Principal,
    request_id: str | None,
) -> tuple[OfficerOut, list[bytes], dict[str, dict[str, Any]]]:
    """The officer changed, the hashes of the unit keys a separation revoked, and each
    field changed, before and after (for the audit trail)."""
    shift = None
    if body.active is False:
        shift = await separation.lock(session, context.agency_id, "officer", officer_id)
    officer = await get_officer(session, agency_id=context.agency_id, officer_id=officer_id)
    before = _officer_fields(officer)
    revoked: list[bytes] = []
    separated = None
    if body.active is False and officer.active:
        # Deactivation records a separation; the person's certifications stay theirs, the
        # agency's terminal keys for them do not, and the shift under way ends with it.
        # First, with no field set yet: its statements flush the session, and the officer
        # must reach the database inactive (its unique indexes hold active officers only).
        revoked, separated = await separation.retire(session, who, request_id, officer_id, shift)
    if body.badge_number is not None:
        officer.badge_number = body.badge_number
    if body.name is not None:
        officer.name = body.name
    if body.trainings is not None:
        officer.trainings = sorted(set(body.trainings))
    if body.active is not None and body.active != officer.active:
        if body.active:  # who records the person's certifications may change with it
            officer.active_since, officer.serving_since = await repo.reactivated_post_start(
                session,
                state_officer_id=officer.state_officer_id,
                separated_at=officer.separated_at,
                active_since=officer.active_since,
            )
        officer.active = body.active
        officer.separated_at = None if body.active else separated
    wanted = _unique_values(officer)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise await _duplicate_officer(
            session, exc, context, wanted, other_than=officer_id
        ) from None
    changed = audit.changes(before, _officer_fields(officer))
    return (await render_officers(session, context, [officer]))[0], revoked, changed


def _officer_fields(officer: Officer) -> dict[str, Any]:
    """What a PATCH may change of an officer, as its audit entry records it."""
    return {
        "badge_number": officer.badge_number,
        "name": officer.name,
        "trainings": list(officer.trainings),
        "active": officer.active,
    }


async def list_officers(
    session: AsyncSession,
    context: AgencyContext,
    *,
    active: bool | None,
    state_officer_id: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[OfficerOut], str | None]:
    person = None if state_officer_id is None else person_id(state_officer_id.strip())
    stmt = repo.officers_statement(context.agency_id, active=active, state_officer_id=person)
    rows, next_cursor = await fetch_page(session, stmt, Officer.id, limit=limit, cursor=cursor)
    return await render_officers(session, context, rows), next_cursor


def render_co_responder(row: CoResponder) -> CoResponderOut:
    return CoResponderOut(
        id=row.id,
        name=row.name,
        kind=row.kind,
        provider=row.provider,
        specialties=row.specialties,
        active=row.active,
        status=row.status,
        location=_location(row),
    )


async def create_co_responder(
    session: AsyncSession, *, agency_id: UUID, body: CoResponderCreate
) -> CoResponderOut:
    row = CoResponder(
        agency_id=agency_id,
        name=body.name,
        kind=body.kind,
        provider=body.provider,
        specialties=sorted(set(body.specialties)),
        active=body.active,
    )
    session.add(row)
    await session.flush()
    return render_co_responder(row)


async def get_co_responder(
    session: AsyncSession, *, agency_id: UUID, co_responder_id: UUID
) -> CoResponder:
    row = await repo.get_co_responder(session, agency_id=agency_id, co_responder_id=co_responder_id)
    if row is None:
        raise NotFound(
            await unit_kind.not_found_at(
                session, agency_id, named_as="co_responder", responder_id=co_responder_id
            )
        )
    return row


async def update_co_responder(
    session: AsyncSession,
    *,
    who: Principal,
    request_id: str | None,
    co_responder_id: UUID,
    body: CoResponderPatch,
) -> tuple[CoResponderOut, list[bytes], dict[str, dict[str, Any]]]:
    """The co-responder changed, the hashes of the unit keys a deactivation revoked, and
    each field changed, before and after (for the audit trail)."""
    agency_id = who.agency_id
    shift = None
    if body.active is False:
        shift = await separation.lock(session, agency_id, "co_responder", co_responder_id)
    row = await get_co_responder(session, agency_id=agency_id, co_responder_id=co_responder_id)
    before = _co_responder_fields(row)
    revoked: list[bytes] = []
    if body.active is False and row.active:  # first, as an officer's (update_officer)
        revoked, _ = await separation.retire(session, who, request_id, co_responder_id, shift)
    for field in ("name", "kind", "provider", "active"):
        value = getattr(body, field)
        if value is not None:
            setattr(row, field, value)
    if body.specialties is not None:
        row.specialties = sorted(set(body.specialties))
    await session.flush()
    return render_co_responder(row), revoked, audit.changes(before, _co_responder_fields(row))


def _co_responder_fields(row: CoResponder) -> dict[str, Any]:
    """What a PATCH may change of a co-responder, as its audit entry records it."""
    return {
        "name": row.name,
        "kind": row.kind,
        "provider": row.provider,
        "specialties": list(row.specialties),
        "active": row.active,
    }


async def list_co_responders(
    session: AsyncSession, *, agency_id: UUID, active: bool | None, limit: int, cursor: str | None
) -> tuple[list[CoResponderOut], str | None]:
    stmt = repo.co_responders_statement(agency_id, active=active)
    rows, next_cursor = await fetch_page(session, stmt, CoResponder.id, limit=limit, cursor=cursor)
    return [render_co_responder(r) for r in rows], next_cursor
