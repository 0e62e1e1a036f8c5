"""CIT certifications: the state's record of a person's training, which moves with them.

Any agency that employs or has employed the person reads it and routes by it; only the
agency that recorded it may correct it, or end it early (a decertification). While another
agency has employed the person since before the agency's own active post (or it has none),
that other agency is the one that records them, and widens them: an agency putting someone
else's officer on its roster (a mistyped state id) does not make them CIT on that agency's
calls (migration 0029).
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.failures import constraint_of
from app.db.unit_of_work import read_after_failure
from app.errors import CertificationExists, Conflict, Forbidden, Invalid, NotFound
from app.models import Certification
from app.repositories import roster as repo
from app.repositories.pagination import fetch_page
from app.schemas.roster import CertificationCreate, CertificationOut, CertificationPatch
from app.services import audit
from app.vocabulary import person_id


def _render_certification(c: Certification) -> CertificationOut:
    return CertificationOut.model_validate(c, from_attributes=True)


async def record_certification(
    session: AsyncSession, *, agency_id: UUID, body: CertificationCreate
) -> CertificationOut:
    if not await repo.agency_has_employed(
        session, agency_id=agency_id, state_officer_id=body.state_officer_id
    ):
        raise Invalid(
            "your agency has never employed an officer with that state_officer_id",
            loc=("body", "state_officer_id"),
        )
    # A number on record already is named first: the record is the person's, and this
    # agency reads it (the unique index still settles a race below).
    found = await repo.certification_numbered(
        await session.connection(),
        state_officer_id=body.state_officer_id,
        certification_number=body.certification_number,
    )
    if found is not None:
        raise CertificationExists(found)
    if await repo.employed_first_elsewhere(session, state_officer_id=body.state_officer_id):
        raise Conflict(
            "another agency employs the officer with that state_officer_id, and has since"
            " before any active post of theirs at your agency: that agency records their"
            " certifications, and yours routes by its records (GET /v1/certifications)."
            " Check the state_officer_id your agency gave them"
        )
    cert = Certification(**body.model_dump(), recorded_by_agency_id=agency_id)
    session.add(cert)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        if constraint_of(exc) != "uq_certification_state_officer_id":
            raise
        raise await _recorded_already(session, body) from None
    return _render_certification(cert)


async def _recorded_already(session: AsyncSession, body: CertificationCreate) -> Conflict:
    """The 409 for a certification number the person has already, naming that record
    (certification_id): read in a fresh transaction, since the failed statement aborted
    this one and the request is refused."""
    found = await repo.certification_numbered(
        await read_after_failure(session),
        state_officer_id=body.state_officer_id,
        certification_number=body.certification_number,
    )
    if found is None:  # no such row now: the clash was with one not committed after all
        return Conflict("that certification number was being recorded meanwhile; retry")
    return CertificationExists(found)


async def list_certifications(
    session: AsyncSession,
    *,
    agency_id: UUID,
    state_officer_id: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[CertificationOut], str | None]:
    """A page of the certifications the agency may read, of one person if state_officer_id
    is given (in any case, with any surrounding whitespace: " ab123" finds AB123's)."""
    # As a body's id is read: surrounding whitespace dropped, letters in the one case.
    person = None if state_officer_id is None else person_id(state_officer_id.strip())
    rows, next_cursor = await fetch_page(
        session,
        repo.certifications_statement(agency_id, person),
        Certification.id,
        limit=limit,
        cursor=cursor,
    )
    return [_render_certification(c) for c in rows], next_cursor


async def get_certification(
    session: AsyncSession, *, agency_id: UUID, certification_id: UUID
) -> CertificationOut:
    """One certification the agency may read (of anyone it employs or has employed, from
    any agency's record, as the list reads them); a 404 for any other."""
    cert = await repo.get_certification(
        session, agency_id=agency_id, certification_id=certification_id
    )
    if cert is None:
        raise NotFound("certification not found")
    return _render_certification(cert)


async def update_certification(
    session: AsyncSession, *, agency_id: UUID, certification_id: UUID, body: CertificationPatch
) -> tuple[CertificationOut, dict[str, dict[str, Any]]]:
    """Correct a certification the agency recorded, or end it early: it counts up to the
    day before expires_on, so a decertification sets expires_on to the day it took effect,
    and one recorded in error (or revoked on its first day) sets it to certified_on, which
    voids it: valid on no day.
    Another agency's record, read here, is a 403: only the recording agency may change
    it. The certification as it is now, and each field changed, before and after (for the
    audit trail: a decertification keeps the expiry it replaced)."""
    cert = await repo.get_certification(
        session, agency_id=agency_id, certification_id=certification_id
    )
    if cert is None:
        raise NotFound("certification not found")
    if cert.recorded_by_agency_id != agency_id:
        raise Forbidden(
            "another agency recorded this certification: only it may correct it or end it"
            " early; a renewal is a new certification, under its own number, which the agency"
            " employing the person records (POST /v1/certifications)"
        )
    await repo.lock_certification(session, cert)
    certified_on: date = cert.certified_on if body.certified_on is None else body.certified_on
    expires_on: date = cert.expires_on if body.expires_on is None else body.expires_on
    if expires_on < certified_on:
        # Named by the field the request moved: certified_on alone past the expiry is its
        # mistake, not the expiry's.
        moved = "certified_on" if body.expires_on is None else "expires_on"
        raise Invalid(
            "expires_on must be on or after certified_on (on it: valid on no day, voided)",
            loc=("body", moved),
        )
    widens = certified_on < cert.certified_on or expires_on > cert.expires_on
    if widens and await repo.employed_first_elsewhere(
        session, state_officer_id=cert.state_officer_id
    ):
        raise Conflict(
            "another agency employs this officer, and has since before any active post of"
            " theirs at your agency: a correction that makes the certification count on more"
            " days is no longer yours to make (ending it early still is); a renewal is a new"
            " certification, under its own number, which that agency records"
        )
    changes = {
        "certified_on": certified_on,
        "expires_on": expires_on,
        "program": cert.program if body.program is None else body.program,
        "volunteered": cert.volunteered if body.volunteered is None else body.volunteered,
    }
    was = _render_certification(cert).model_dump(mode="json")
    for name, value in changes.items():
        setattr(cert, name, value)
    await session.flush()
    now_is = _render_certification(cert)
    after = now_is.model_dump(mode="json")
    changed = audit.changes(was, {k: after[k] for k in changes})
    return now_is, changed
