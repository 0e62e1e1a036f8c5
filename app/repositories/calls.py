"""SQL for calls and their recommendation history.

A call travels as a CallRecord: call_params gives the columns it is written with (insert
and update share it), and call_record reads one back; tests/api/test_call_records.py
checks that every field survives the round trip. Intake writes the call, its first
recommendation, its events and its audit entry (and the Idempotency-Key answer) in one
statement, so one round trip commits them all or none.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Protocol, cast
from uuid import UUID

import asyncpg
from sqlalchemy import Date, Select, func, or_, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.db.raw import RawStatement, driver, json_text, with_steps
from app.events.catalogue import OutboxEvent
from app.models import Call, District, Recommendation
from app.records.audit import AuditRecord
from app.records.calls import CallRecord, Location, SubjectFacts
from app.records.recommendations import (
    ReasonJson,
    RecommendationRecord,
    RecommendedUnitJson,
    WarningJson,
)
from app.repositories import audit as audit_trail
from app.repositories import events as outbox
from app.repositories import idempotency
from app.repositories.pagination import fetch_row_page
from app.vocabulary import CALL_STATUSES, CLEARING_RECORD, CallStatus, Lead, Request


class Columns(Protocol):
    """A row read by column name: SQLAlchemy's row._mapping, or asyncpg's Record."""

    def __getitem__(self, name: str, /) -> Any: ...


# Every column of `call`, in the order call_params gives them.
_COLUMNS = (
    "id",
    "agency_id",
    "external_id",
    "status",
    "district_id",
    "lat",
    "lon",
    "address",
    "nature",
    "safety",
    "subject",
    "notes",
    "received_at",
    "created_at",
    "updated_at",
    "dispatched_at",
    "cleared_at",
    *CLEARING_RECORD,
    "eido_updated_at",
    "unread_cautions",
    "eido_notes_digest",
    "eido_reopened",
)
_JSON = {"safety", "subject"}
# Columns that never change after intake.
_FIXED = {"id", "agency_id", "created_at"}


def call_params(call: CallRecord) -> dict[str, Any]:
    """The record as `call_<column>` parameters (JSON columns as text)."""
    place = call.location
    values: dict[str, Any] = {
        "id": call.id,
        "agency_id": call.agency_id,
        "external_id": call.external_id,
        "status": call.status,
        "district_id": call.district_id,
        "lat": None if place is None else place.lat,
        "lon": None if place is None else place.lon,
        "address": None if place is None else place.address,
        "nature": call.nature,
        "safety": json_text(dict(call.safety)),
        "subject": json_text(dict(call.subject)),
        "notes": call.notes,
        "received_at": call.received_at,
        "created_at": call.created_at,
        "updated_at": call.updated_at,
        "dispatched_at": call.dispatched_at,
        "cleared_at": call.cleared_at,
        "disposition": call.disposition,
        "diverted_to": call.diverted_to,
        "outcome": call.outcome,
        "use_of_force": call.use_of_force,
        "subject_injured": call.subject_injured,
        "officer_injured": call.officer_injured,
        "eido_updated_at": call.eido_updated_at,
        "unread_cautions": call.unread_cautions,
        "eido_notes_digest": call.eido_notes_digest,
        "eido_reopened": call.eido_reopened,
    }
    return {f"call_{column}": values[column] for column in _COLUMNS}


def _placeholder(column: str) -> str:
    return f"CAST(:call_{column} AS jsonb)" if column in _JSON else f":call_{column}"


# Built from the column names above, never from input.
_INSERT_CALL = (
    f"INSERT INTO call ({', '.join(_COLUMNS)})"  # noqa: S608
    f" VALUES ({', '.join(_placeholder(c) for c in _COLUMNS)})"
)
# Alone (update_call), or as a step of a statement that also writes what changed it.
UPDATE_CALL = (
    "UPDATE call SET "  # noqa: S608
    + ", ".join(f"{c} = {_placeholder(c)}" for c in _COLUMNS if c not in _FIXED)
    + " WHERE id = :call_id"
)
_UPDATE_CALL = RawStatement.compile(UPDATE_CALL)

INSERT_RECOMMENDATION = """
INSERT INTO recommendation (id, agency_id, call_id, created_at, policy_version, lead,
                            safety_concern, units, requests, warnings, reasons)
VALUES (:rec_id, :rec_agency_id, :rec_call_id, :rec_created_at, :rec_policy_version, :rec_lead,
        :rec_safety_concern, CAST(:rec_units AS jsonb), CAST(:rec_requests AS text[]),
        CAST(:rec_warnings AS jsonb), CAST(:rec_reasons AS jsonb))"""


def recommendation_params(rec: RecommendationRecord) -> dict[str, Any]:
    return {
        "rec_id": rec.id,
        "rec_agency_id": rec.agency_id,
        "rec_call_id": rec.call_id,
        "rec_created_at": rec.created_at,
        "rec_policy_version": rec.policy_version,
        "rec_lead": rec.lead,
        "rec_safety_concern": rec.safety_concern,
        "rec_units": json_text(rec.units),
        "rec_requests": list(rec.requests),
        "rec_warnings": json_text(rec.warnings),
        "rec_reasons": json_text(rec.reasons),
    }


_RECORD_STEPS = (
    ("rec", INSERT_RECOMMENDATION),
    ("ev", outbox.INSERT_EVENTS),
    ("au", audit_trail.INSERT_AUDIT),
)
_INSERT_CALL_ALL = with_steps(("new_call", _INSERT_CALL), *_RECORD_STEPS)
_INSERT_CALL_ALL_IDEMPOTENT = with_steps(
    ("new_call", _INSERT_CALL), *_RECORD_STEPS, ("idem", idempotency.COMPLETE_ANSWER)
)
_INSERT_RECOMMENDATION_ALL = with_steps(*_RECORD_STEPS)


class ExternalIdTaken(Exception):
    """Another call of the agency already has this external_id."""


class DistrictGone(Exception):
    """The call's district was deleted meanwhile."""


async def insert_call(
    conn: AsyncConnection,
    call: CallRecord,
    *,
    recommendation: RecommendationRecord,
    events: Sequence[OutboxEvent],
    entry: AuditRecord,
    answer: idempotency.Answer | None,
) -> None:
    """Write a new call with its first recommendation, events and audit entry, and the
    Idempotency-Key answer if any, in one statement (one round trip)."""
    params = {
        **call_params(call),
        **recommendation_params(recommendation),
        **outbox.params(agency_id=call.agency_id, at=call.created_at, events=events),
        **audit_trail.params(entry),
    }
    statement = _INSERT_CALL_ALL
    if answer is not None:
        statement = _INSERT_CALL_ALL_IDEMPOTENT
        params.update(idempotency.answer_params(answer))
    try:
        await (await driver(conn)).execute(statement.sql, *statement.args(params))
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "uq_call_agency_external_id":
            raise ExternalIdTaken from None
        raise
    except asyncpg.ForeignKeyViolationError:
        raise DistrictGone from None


async def call_id_for_external_id(
    conn: AsyncConnection, *, agency_id: UUID, external_id: str | None
) -> UUID | None:
    """The id of the agency's call the CAD knows by external_id, if any."""
    found: UUID | None = await (await driver(conn)).fetchval(
        "SELECT id FROM call WHERE agency_id = $1 AND external_id = $2", agency_id, external_id
    )
    return found


async def insert_recommendation(
    session: AsyncSession,
    recommendation: RecommendationRecord,
    *,
    events: Sequence[OutboxEvent],
    entry: AuditRecord,
) -> None:
    """Write a new recommendation of an existing call, with its events and audit entry."""
    await session.flush()  # the fan-out trigger must see this request's assignments
    params = {
        **recommendation_params(recommendation),
        **outbox.params(
            agency_id=recommendation.agency_id, at=recommendation.created_at, events=events
        ),
        **audit_trail.params(entry),
    }
    raw = await driver(await session.connection())
    await raw.execute(_INSERT_RECOMMENDATION_ALL.sql, *_INSERT_RECOMMENDATION_ALL.args(params))


_INSERT_RECOMMENDATION_ALONE = RawStatement.compile(INSERT_RECOMMENDATION)


async def write_past_recommendation(session: AsyncSession, rec: RecommendationRecord) -> None:
    """Store a recommendation alone, without events or audit entry: for calls that happened
    before the service knew of them (the demo's history)."""
    await session.flush()  # its call first
    raw = await driver(await session.connection())
    await raw.execute(
        _INSERT_RECOMMENDATION_ALONE.sql,
        *_INSERT_RECOMMENDATION_ALONE.args(recommendation_params(rec)),
    )


async def update_call(session: AsyncSession, call: CallRecord) -> None:
    """Store the call's new state (every column but those fixed at intake). DistrictGone if
    its (new) district was deleted meanwhile."""
    raw = await driver(await session.connection())
    try:
        await raw.execute(_UPDATE_CALL.sql, *_UPDATE_CALL.args(call_params(call)))
    except asyncpg.ForeignKeyViolationError:
        raise DistrictGone from None


_SELECT_CALL = select(*Call.__table__.columns, District.code.label("district_code")).join(
    District, District.id == Call.district_id
)


def call_record(row: Columns) -> CallRecord:
    """A call's row (with its district's code as district_code) as a record."""
    return CallRecord(
        id=row["id"],
        agency_id=row["agency_id"],
        external_id=row["external_id"],
        status=row["status"],
        district_id=row["district_id"],
        district=row["district_code"],
        location=(
            None
            if (row["lat"] is None or row["lon"] is None) and not (row["address"] or "").strip()
            else Location(lat=row["lat"], lon=row["lon"], address=row["address"])
        ),
        nature=row["nature"],
        safety=row["safety"],
        subject=cast(SubjectFacts, row["subject"]),
        notes=row["notes"],
        received_at=row["received_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        dispatched_at=row["dispatched_at"],
        cleared_at=row["cleared_at"],
        disposition=row["disposition"],
        diverted_to=row["diverted_to"],
        outcome=row["outcome"],
        use_of_force=row["use_of_force"],
        subject_injured=row["subject_injured"],
        officer_injured=row["officer_injured"],
        eido_updated_at=row["eido_updated_at"],
        unread_cautions=row["unread_cautions"],
        eido_notes_digest=row["eido_notes_digest"],
        eido_reopened=row["eido_reopened"],
    )


async def get_call(
    session: AsyncSession, *, agency_id: UUID, call_id: UUID, for_update: bool = False
) -> CallRecord | None:
    stmt = _SELECT_CALL.where(Call.agency_id == agency_id, Call.id == call_id)
    return await _one_call(session, stmt, for_update=for_update)


async def _one_call(
    session: AsyncSession, stmt: Select[Any], *, for_update: bool
) -> CallRecord | None:
    """The call stmt selects, if any, its row locked when for_update."""
    if for_update:
        stmt = stmt.with_for_update(of=Call)
    row = (await session.execute(stmt)).first()
    return None if row is None else call_record(row._mapping)


async def list_calls(
    session: AsyncSession,
    *,
    agency_id: UUID,
    statuses: Collection[CallStatus] | None,
    district_id: UUID | None,
    external_id: str | None,
    or_call_id: UUID | None = None,
    limit: int,
    cursor: str | None,
) -> tuple[list[CallRecord], str | None]:
    """One page of the agency's calls, newest first; with external_id, the call that has it,
    or the call or_call_id."""
    stmt = _SELECT_CALL.where(Call.agency_id == agency_id)
    if external_id is not None:
        by_id = Call.external_id == external_id
        stmt = stmt.where(by_id if or_call_id is None else or_(by_id, Call.id == or_call_id))
    if statuses is not None and len(set(statuses)) == 1:
        stmt = stmt.where(Call.status == next(iter(statuses)))  # ix_call_agency_status
    elif statuses is not None and set(statuses) != set(CALL_STATUSES):
        stmt = stmt.where(Call.status.in_(sorted(statuses)))
    if district_id is not None:
        stmt = stmt.where(Call.district_id == district_id)
    rows, next_cursor = await fetch_row_page(
        session, stmt, Call.id, limit=limit, cursor=cursor, newest_first=True
    )
    return [call_record(r._mapping) for r in rows], next_cursor


def recommendation_record(row: Columns, prefix: str = "") -> RecommendationRecord:
    """A recommendation's row as a record; its columns named prefix + column."""

    def column(name: str) -> Any:
        return row[prefix + name]

    return RecommendationRecord(
        id=column("id"),
        agency_id=column("agency_id"),
        call_id=column("call_id"),
        created_at=column("created_at"),
        policy_version=column("policy_version"),
        lead=cast(Lead, column("lead")),
        safety_concern=column("safety_concern"),
        units=cast(list[RecommendedUnitJson], column("units")),
        requests=cast(list[Request], column("requests")),
        warnings=cast(list[WarningJson], column("warnings")),
        reasons=cast(list[ReasonJson], column("reasons")),
    )


_SELECT_RECOMMENDATION = select(*Recommendation.__table__.columns)


async def latest_recommendations(
    session: AsyncSession, call_ids: Sequence[UUID]
) -> Mapping[UUID, RecommendationRecord]:
    if not call_ids:
        return {}
    stmt = (
        _SELECT_RECOMMENDATION.where(Recommendation.call_id.in_(call_ids))
        .ext(distinct_on(Recommendation.call_id))
        .order_by(Recommendation.call_id, Recommendation.id.desc())
    )
    rows = (await session.execute(stmt)).mappings()
    return {r["call_id"]: recommendation_record(r) for r in rows}


async def is_recommendation_of(session: AsyncSession, call_id: UUID, rec_id: UUID) -> bool:
    """Whether rec_id names one of the call's recommendations."""
    stmt = select(Recommendation.id).where(
        Recommendation.call_id == call_id, Recommendation.id == rec_id
    )
    return (await session.execute(stmt)).first() is not None


async def list_recommendations(
    session: AsyncSession, call_id: UUID, *, limit: int, cursor: str | None
) -> tuple[list[RecommendationRecord], str | None]:
    """One page of the call's recommendations, oldest first."""
    stmt = _SELECT_RECOMMENDATION.where(Recommendation.call_id == call_id)
    rows, next_cursor = await fetch_row_page(
        session, stmt, Recommendation.id, limit=limit, cursor=cursor
    )
    return [recommendation_record(r._mapping) for r in rows], next_cursor


async def days_with_calls(
    session: AsyncSession, agency_id: UUID, *, since: datetime, zone: str
) -> set[date]:
    """The local dates (in zone) on which the agency received a call, from since on."""
    day = sql_cast(func.timezone(zone, Call.received_at), Date)
    stmt = select(day).where(Call.agency_id == agency_id, Call.received_at >= since).distinct()
    return set((await session.execute(stmt)).scalars())
