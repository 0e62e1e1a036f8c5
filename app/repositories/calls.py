"""SQL for calls and their recommendation history."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from sqlalchemy import Select, bindparam, select, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, distinct_on
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.types import Text

from app.db.raw import RawStatement, driver
from app.models import Call, Recommendation
from app.repositories.idempotency import COMPLETE_IN_CTE

# Recommendation, outbox events and audit entry: the tail shared by create and re-triage.
_RECORD_TAIL = """
rec AS (
    INSERT INTO recommendation (id, agency_id, call_id, created_at, policy_version, lead,
                                safety_concern, units, requests, warnings, reasons)
    VALUES (:rec_id, :agency_id, :call_id, :now, :policy_version, :lead, :safety_concern,
            :units, :requests, :warnings, :reasons)
), ev AS (
    INSERT INTO event (id, agency_id, type, call_id, responder_id, payload, created_at)
    SELECT e.id, :agency_id, e.type, e.call_id, e.responder_id, e.payload, :now
    FROM jsonb_to_recordset(:events)
        AS e(id uuid, type text, call_id uuid, responder_id uuid, payload jsonb)
), au AS (
    INSERT INTO audit_entry (id, agency_id, at, key_id, role, action, resource_type,
                             resource_id, outcome, request_id, detail)
    VALUES (:audit_id, :agency_id, :now, :key_id, :role, :action, 'call', :call_id_text,
            :outcome, :request_id, NULL)
)
"""

_JSON_PARAMS = ("safety", "subject", "units", "warnings", "reasons", "events", "idem_body")


def _typed(statement: str) -> Any:
    present = set(re.findall(r":(\w+)", statement))
    params = [bindparam(name, type_=JSONB) for name in _JSON_PARAMS if name in present]
    params.append(bindparam("requests", type_=ARRAY(Text)))
    return text(statement).bindparams(*params)


_CALL_HEAD = """
WITH new_call AS (
    INSERT INTO call (id, agency_id, external_id, status, district_id, lat, lon, address,
                      nature, safety, subject, notes, received_at, created_at, updated_at)
    VALUES (:call_id, :agency_id, :external_id, 'pending', :district_id, :lat, :lon, :address,
            :nature, :safety, :subject, :notes, :received_at, :now, :now)
), """

# Static SQL only, joined from the module constants above; never from input.
_INSERT_CALL = RawStatement.compile("".join((_CALL_HEAD, _RECORD_TAIL, "SELECT 1")))
_INSERT_CALL_IDEMPOTENT = RawStatement.compile(
    "".join((_CALL_HEAD, _RECORD_TAIL.rstrip(), COMPLETE_IN_CTE, "SELECT 1"))
)


class ExternalIdTaken(Exception):
    """Another call of the agency already has this external_id."""


class DistrictGone(Exception):
    """The call's district was deleted meanwhile."""


_INSERT_RECOMMENDATION = _typed("".join(("WITH ", _RECORD_TAIL, "SELECT 1")))


async def insert_call(conn: AsyncConnection, params: dict[str, Any]) -> None:
    """Write a call with its first recommendation, events and audit entry in one round trip.

    With `idem_key` and `idem_body` in params, the same statement stores the response under
    the Idempotency-Key: the call and its replayable answer commit together or not at all.
    """
    statement = _INSERT_CALL_IDEMPOTENT if "idem_key" in params else _INSERT_CALL
    # On the driver connection, JSON goes as text (SQLAlchemy's jsonb codec expects it).
    args = {**params, **{k: json.dumps(params[k]) for k in _JSON_PARAMS if k in params}}
    try:
        await (await driver(conn)).execute(statement.sql, *statement.args(args))
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "uq_call_agency_external_id":
            raise ExternalIdTaken from None
        raise
    except asyncpg.ForeignKeyViolationError:
        raise DistrictGone from None


async def insert_recommendation(session: AsyncSession, params: dict[str, Any]) -> None:
    """Write a new recommendation for an existing call, with its events and audit entry."""
    await session.execute(_INSERT_RECOMMENDATION, params)


async def get_call(
    session: AsyncSession, *, agency_id: UUID, call_id: UUID, for_update: bool = False
) -> Call | None:
    stmt = select(Call).where(Call.agency_id == agency_id, Call.id == call_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def latest_recommendations(
    session: AsyncSession, call_ids: list[UUID]
) -> dict[UUID, Recommendation]:
    if not call_ids:
        return {}
    stmt = (
        select(Recommendation)
        .where(Recommendation.call_id.in_(call_ids))
        .ext(distinct_on(Recommendation.call_id))
        .order_by(Recommendation.call_id, Recommendation.id.desc())
    )
    return {r.call_id: r for r in (await session.execute(stmt)).scalars()}


def calls_statement(
    agency_id: UUID, *, status: str | None, district_id: UUID | None
) -> Select[Call]:
    stmt = select(Call).where(Call.agency_id == agency_id)
    if status is not None:
        stmt = stmt.where(Call.status == status)
    if district_id is not None:
        stmt = stmt.where(Call.district_id == district_id)
    return stmt


def recommendations_statement(call_id: UUID) -> Select[Recommendation]:
    return select(Recommendation).where(Recommendation.call_id == call_id)


async def touch(session: AsyncSession, call: Call, now: datetime) -> None:
    call.updated_at = now
    await session.flush()
