"""SQL for officers, co-responders, certifications and unit status."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import NamedTuple
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    Date,
    Select,
    Text,
    and_,
    column,
    exists,
    select,
    text,
    values,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.models import Certification, CoResponder, Officer


def officers_statement(
    agency_id: UUID, *, active: bool | None = None, state_officer_id: str | None = None
) -> Select[Officer]:
    """The agency's officers; only those active (or not), or with this statewide id."""
    stmt = select(Officer).where(Officer.agency_id == agency_id)
    if active is not None:
        stmt = stmt.where(Officer.active.is_(active))
    if state_officer_id is not None:
        stmt = stmt.where(Officer.state_officer_id == state_officer_id)
    return stmt


def co_responders_statement(agency_id: UUID, *, active: bool | None = None) -> Select[CoResponder]:
    stmt = select(CoResponder).where(CoResponder.agency_id == agency_id)
    if active is not None:
        stmt = stmt.where(CoResponder.active.is_(active))
    return stmt


async def all_officers(session: AsyncSession, agency_id: UUID) -> Sequence[Officer]:
    return (await session.execute(officers_statement(agency_id))).scalars().all()


async def all_co_responders(session: AsyncSession, agency_id: UUID) -> Sequence[CoResponder]:
    return (await session.execute(co_responders_statement(agency_id))).scalars().all()


async def get_officer(
    session: AsyncSession, *, agency_id: UUID, officer_id: UUID
) -> Officer | None:
    stmt = select(Officer).where(Officer.agency_id == agency_id, Officer.id == officer_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def active_officer_with(
    conn: AsyncConnection, *, agency_id: UUID, field: str, value: str, other_than: UUID | None
) -> UUID | None:
    """The id of the agency's active officer, other than other_than, whose field (a column
    of a unique index on active officers) is value; None when there is none. On the
    connection, not a session: a session whose flush failed refuses to run anything."""
    column = getattr(Officer, field)
    stmt = select(Officer.id).where(Officer.agency_id == agency_id, Officer.active, column == value)
    if other_than is not None:
        stmt = stmt.where(Officer.id != other_than)
    return (await conn.execute(stmt.limit(1))).scalar_one_or_none()


async def certification_numbered(
    conn: AsyncConnection, *, state_officer_id: str, certification_number: str
) -> UUID | None:
    """The id of the person's certification with this number, if one is recorded."""
    stmt = select(Certification.id).where(
        Certification.state_officer_id == state_officer_id,
        Certification.certification_number == certification_number,
    )
    return (await conn.execute(stmt)).scalar_one_or_none()


async def get_co_responder(
    session: AsyncSession, *, agency_id: UUID, co_responder_id: UUID
) -> CoResponder | None:
    stmt = select(CoResponder).where(
        CoResponder.agency_id == agency_id, CoResponder.id == co_responder_id
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def has_unit(
    session: AsyncSession, *, agency_id: UUID, responder_type: str, responder_id: UUID
) -> bool:
    """Whether the agency has a unit of this kind with this id (active or not), read
    without a lock and without loading it into the session."""
    model = Officer if responder_type == "officer" else CoResponder
    stmt = select(exists().where(model.agency_id == agency_id, model.id == responder_id))
    return bool((await session.execute(stmt)).scalar())


async def units_by_id(
    session: AsyncSession, *, agency_id: UUID, officer_ids: Sequence[UUID], co_ids: Sequence[UUID]
) -> dict[UUID, Officer | CoResponder]:
    """The agency's officers and co-responders with these ids (two queries at most)."""
    found: dict[UUID, Officer | CoResponder] = {}
    if officer_ids:
        officers = officers_statement(agency_id).where(Officer.id.in_(officer_ids))
        found.update((o.id, o) for o in (await session.execute(officers)).scalars())
    if co_ids:
        co_responders = co_responders_statement(agency_id).where(CoResponder.id.in_(co_ids))
        found.update((c.id, c) for c in (await session.execute(co_responders)).scalars())
    return found


async def responder_kind(
    session: AsyncSession, *, agency_id: UUID, responder_id: UUID
) -> str | None:
    """Whether the agency's active responder is an officer or a co-responder; None if
    neither, or inactive (a unit key is for a responder on the roster). The row is locked
    FOR SHARE until the transaction ends: a deactivation at the same moment (which locks it
    to update it, then revokes its keys) comes wholly before or wholly after the key."""
    for model, kind in ((Officer, "officer"), (CoResponder, "co_responder")):
        stmt = (
            select(model.active)
            .where(model.agency_id == agency_id, model.id == responder_id)
            .with_for_update(read=True)
        )
        active = (await session.execute(stmt)).scalar_one_or_none()
        if active is not None:
            return kind if active else None
    return None


def _valid_on(on: date | ColumnElement[date]) -> ColumnElement[bool]:
    """A certification valid on the day on: certified_on <= on < expires_on (a voided one,
    its two dates equal, on no day). The SQL of the candidate query, the program and the
    outcome reports (app/repositories/candidates.py, program.py, outcomes.py) says so too."""
    return and_(Certification.certified_on <= on, Certification.expires_on > on)


async def valid_certifications(
    session: AsyncSession, *, state_officer_ids: Iterable[str], on: date
) -> dict[str, Certification]:
    """For each person, the valid-on-date certification that expires last."""
    ids = set(state_officer_ids)
    if not ids:
        return {}
    stmt = (
        select(Certification)
        .where(Certification.state_officer_id.in_(ids), _valid_on(on))
        .order_by(Certification.state_officer_id, Certification.expires_on)
    )
    return {c.state_officer_id: c for c in (await session.execute(stmt)).scalars()}


async def certified_on_days(
    session: AsyncSession, *, days: Iterable[tuple[str, date]]
) -> set[tuple[str, date]]:
    """Which of the (person, day) pairs the person held a certification valid on, in one
    statement for them all (valid_certifications is for one day)."""
    pairs = sorted(set(days))
    if not pairs:
        return set()
    asked = values(column("state_officer_id", Text), column("day", Date), name="asked").data(pairs)
    stmt = select(asked.c.state_officer_id, asked.c.day).where(
        exists().where(
            Certification.state_officer_id == asked.c.state_officer_id, _valid_on(asked.c.day)
        )
    )
    return {(person, day) for person, day in await session.execute(stmt)}


async def agency_has_employed(
    session: AsyncSession, *, agency_id: UUID, state_officer_id: str
) -> bool:
    stmt = select(
        exists().where(Officer.agency_id == agency_id, Officer.state_officer_id == state_officer_id)
    )
    return bool((await session.execute(stmt)).scalar())


_EMPLOYED_FIRST_ELSEWHERE = text("SELECT cit_employed_first_elsewhere(:person)")


async def employed_first_elsewhere(session: AsyncSession, *, state_officer_id: str) -> bool:
    """Whether another agency employs the person actively, and has since before this one's
    active post (or this one has none): that agency records their certifications then
    (migration 0029). Yes or no only: which agency is never told."""
    found = await session.execute(_EMPLOYED_FIRST_ELSEWHERE, {"person": state_officer_id})
    return bool(found.scalar())


# The start of a reactivated officer's post, by the database's clock, as a creation's is:
# now if they were taken on elsewhere since their separation here (or it is not known),
# else the start they had (migration 0030); and now, when their new period of service
# begins either way (migration 0034).
_POST_RESUMED = text(
    "SELECT CASE WHEN CAST(:separated AS timestamptz) IS NULL"
    " OR cit_taken_on_elsewhere_since(:person, :separated) THEN now()"
    " ELSE CAST(:since AS timestamptz) END AS post_start, now() AS serving_since"
)


class Reactivation(NamedTuple):
    """When a reactivated officer's post starts, and their new period of service."""

    post_start: datetime
    serving_since: datetime


async def reactivated_post_start(
    session: AsyncSession,
    *,
    state_officer_id: str | None,
    separated_at: datetime | None,
    active_since: datetime,
) -> Reactivation:
    """When a reactivated officer's post starts: it resumes (active_since kept) unless
    another agency took the person on after separated_at. Yes or no only crosses agencies.
    Their period of service starts now, whichever it is."""
    params = {"person": state_officer_id, "separated": separated_at, "since": active_since}
    row = (await session.execute(_POST_RESUMED, params)).one()
    return Reactivation(row.post_start, row.serving_since)


def certifications_statement(
    agency_id: UUID, state_officer_id: str | None
) -> Select[Certification]:
    """Certifications of people this agency employs or has employed: the one cross-agency read."""
    employed = select(Officer.state_officer_id).where(Officer.agency_id == agency_id)
    stmt = select(Certification).where(Certification.state_officer_id.in_(employed))
    if state_officer_id is not None:
        stmt = stmt.where(Certification.state_officer_id == state_officer_id)
    return stmt


async def get_certification(
    session: AsyncSession, *, agency_id: UUID, certification_id: UUID
) -> Certification | None:
    """A certification this agency can read (of someone it employs or has employed)."""
    stmt = certifications_statement(agency_id, None).where(Certification.id == certification_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def lock_certification(session: AsyncSession, cert: Certification) -> None:
    """Lock a certification the agency recorded for a change, and read it again (the row
    level policy lets an agency lock only those: migration 0020)."""
    await session.refresh(cert, with_for_update=True)
