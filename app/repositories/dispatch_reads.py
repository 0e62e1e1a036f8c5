"""SQL that reads a call, locked, with what a dispatch or a clear decides on, and locks
the units (app/repositories/dispatches.py writes what they decide).

read_for_dispatch locks the call and reads it with its latest recommendation, its
assignments and its dispatches; for a dispatch, once it holds the call, the same statement
locks the units (those named, else the recommendation's) officers first, then
co-responders, each by id: the global order every dispatch, release and status change
keeps (lock_units here for a clear, and for a dispatch whose call was held elsewhere as it
was read; assignments.lock_units for the ORM's callers), so concurrent dispatches and
clears wait for each other instead of deadlocking.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, TypeVar
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.raw import RawStatement, driver
from app.models import Assignment, Base, Dispatch, Recommendation
from app.records.calls import CallRecord
from app.records.recommendations import Decided, RecommendationRecord
from app.repositories import calls as call_repo
from app.repositories.naming_shift import NAMING_SHIFT
from app.vocabulary import ResponderType, UnitStatus


@dataclass(frozen=True, slots=True)
class CallForDispatch:
    """A call, locked, with its latest recommendation, its assignments and its dispatches
    (each oldest first)."""

    call: CallRecord
    recommendation: RecommendationRecord | None
    assignments: list[Assignment]
    dispatches: list[Dispatch]
    # The units the read locked with the call (by id), or None: it locked none (the call was
    # held by another transaction), and the caller locks them itself (lock_units).
    units: dict[UUID, LockedUnit] | None = None


_RECOMMENDATION = tuple(Recommendation.__table__.columns.keys())
_ASSIGNMENT = tuple(Assignment.__table__.columns.keys())
_DISPATCH = tuple(Dispatch.__table__.columns.keys())


def _arrays(table: str, alias: str, columns: tuple[str, ...], order: str) -> str:
    """The call's rows of table as one array per column (alias_column), in order."""
    arrays = ", ".join(f"array_agg({alias}.{c} ORDER BY {order}) AS {alias}_{c}" for c in columns)
    return f"SELECT {arrays} FROM {table} {alias} WHERE {alias}.call_id = c.id"  # noqa: S608


# The call is locked SKIP LOCKED, and `locked` says whether the row read is the one locked:
# false when another transaction holds the call, or changed it after this statement's
# snapshot. Then read_for_dispatch waits for the lock and reads again, so the rest (the
# recommendation, the assignments) is never older than the call. That holds because every
# transaction that changes the rest while holding the call changes the call's row too
# (assignments.mark_call_changed): one that committed between this statement's snapshot
# and its lock would otherwise go unseen. Built from the models' column names, never from
# input.
_LOCKED_CALL = """
locked AS MATERIALIZED (
    SELECT ctid FROM call WHERE agency_id = :agency_id AND id = :call_id
    FOR UPDATE SKIP LOCKED
)"""
_CALL = f"""
SELECT c.*, d.code AS district_code,
       coalesce(c.ctid = (SELECT ctid FROM locked), false) AS locked,
       {", ".join(f"r.{c} AS r_{c}" for c in _RECOMMENDATION)},
       a.*, dp.*{{units}}
FROM call c
JOIN district d ON d.id = c.district_id
LEFT JOIN LATERAL (
    SELECT * FROM recommendation WHERE call_id = c.id ORDER BY id DESC LIMIT 1
) r ON true
CROSS JOIN LATERAL ({_arrays("assignment", "a", _ASSIGNMENT, "a.assigned_at, a.id")}) a
CROSS JOIN LATERAL ({_arrays("dispatch", "dp", _DISPATCH, "dp.at, dp.id")}) dp{{join}}
WHERE c.agency_id = :agency_id AND c.id = :call_id"""  # noqa: S608

# Which units a dispatch's read also locks, once it holds the call (never before: the call
# comes first in the global order): those named (:officer_ids, :co_ids) or, when it names
# none (NULL), its latest recommendation's. A clear locks the units on its call in a
# statement of its own (lock_units), after its read.
_DISPATCHED_UNITS = """
SELECT u->>'responder_type' AS responder_type, CAST(u->>'responder_id' AS uuid) AS id
FROM (SELECT units FROM recommendation
      WHERE agency_id = :agency_id AND call_id = :call_id ORDER BY id DESC LIMIT 1) r,
     jsonb_array_elements(r.units) u
WHERE CAST(:officer_ids AS uuid[]) IS NULL
UNION ALL
SELECT 'officer', id FROM unnest(CAST(:officer_ids AS uuid[])) id
UNION ALL
SELECT 'co_responder', id FROM unnest(CAST(:co_ids AS uuid[])) id"""


def _read_locking_units() -> RawStatement:
    """The read, also locking (when it holds the call) the units _DISPATCHED_UNITS selects
    (responder_type, id), officers first, then co-responders, each by id."""
    head = f"""WITH {_LOCKED_CALL},
wanted AS MATERIALIZED ({_DISPATCHED_UNITS}),
o AS MATERIALIZED (
    SELECT id, 'officer' AS responder_type, active, status, active_call_id,
           external_incident FROM officer
    WHERE agency_id = :agency_id AND EXISTS (SELECT 1 FROM locked)
      AND id IN (SELECT id FROM wanted WHERE responder_type = 'officer')
    ORDER BY id FOR UPDATE
), cr AS MATERIALIZED (
    SELECT id, 'co_responder' AS responder_type, active, status, active_call_id,
           external_incident
    FROM co_responder
    WHERE agency_id = :agency_id AND EXISTS (SELECT 1 FROM locked)
      AND id IN (SELECT id FROM wanted WHERE responder_type = 'co_responder')
    ORDER BY id FOR UPDATE
), lu AS (
    SELECT * FROM o UNION ALL SELECT * FROM cr
)"""  # noqa: S608 (static SQL, as below)
    units_read = f"""
CROSS JOIN LATERAL (
    SELECT array_agg(lu.id) AS lu_id, array_agg(lu.responder_type) AS lu_responder_type,
           array_agg(lu.active) AS lu_active, array_agg(lu.status) AS lu_status,
           array_agg(lu.active_call_id) AS lu_active_call_id,
           array_agg(lu.external_incident) AS lu_external_incident,
           array_agg(({_CALL_SIGN.format(unit="lu.id")})) AS lu_call_sign,
           array_agg(({_ON_SHIFT.format(unit="lu.id")})) AS lu_on_shift
    FROM lu
) lk"""  # noqa: S608
    return RawStatement.compile(head + _CALL.format(units=", lk.*", join=units_read))


# The call sign is the one naming_shift.call_signs gives (NAMING_SHIFT).
_CALL_SIGN = "SELECT s.call_sign " + NAMING_SHIFT
# Whether a shift of the unit covers now: a range scan of (responder_id, starts_at), no
# shift being longer than a day.
_ON_SHIFT = """SELECT EXISTS (SELECT 1 FROM shift s
        WHERE s.responder_id = {unit} AND s.agency_id = :agency_id
          AND s.starts_at <= CAST(:now AS timestamptz)
          AND s.starts_at > CAST(:now AS timestamptz) - interval '24 hours'
          AND s.ends_at > CAST(:now AS timestamptz))"""
_READ = RawStatement.compile(f"WITH {_LOCKED_CALL}" + _CALL.format(units="", join=""))
_READ_DISPATCHING = _read_locking_units()
_LOCK_CALL = RawStatement.compile(
    "SELECT 1 FROM call WHERE agency_id = :agency_id AND id = :call_id FOR UPDATE"
)

_CIT_TODAY = RawStatement.compile(
    "SELECT coalesce(cit_periods_of(o.state_officer_id) @> CAST(:today AS date), false)"
    " FROM officer o WHERE o.agency_id = :agency_id AND o.id = :officer_id"
)


async def cit_today(
    conn: AsyncConnection, *, agency_id: UUID, officer_id: UUID, today: date
) -> bool:
    """Whether the agency's officer is CIT-certified on its local day today."""
    raw = await driver(conn)
    params = {"agency_id": agency_id, "officer_id": officer_id, "today": today}
    return bool(await raw.fetchval(_CIT_TODAY.sql, *_CIT_TODAY.args(params)))


_DECIDED = RawStatement.compile(
    "SELECT r.safety_concern, EXISTS (SELECT 1 FROM recommendation s"
    " WHERE s.call_id = r.call_id AND s.id > r.id AND s.lead <> r.lead) AS changed"
    " FROM recommendation r WHERE r.agency_id = :agency_id AND r.id = :id"
)


async def decided_on(
    conn: AsyncConnection, *, agency_id: UUID, recommendation_id: UUID
) -> Decided | None:
    """The agency's recommendation as a dispatch decided on it, and whether its call's lead
    recommended changed since (None: no such one). One statement."""
    raw = await driver(conn)
    params = {"agency_id": agency_id, "id": recommendation_id}
    row = await raw.fetchrow(_DECIDED.sql, *_DECIDED.args(params))
    return None if row is None else Decided(bool(row["safety_concern"]), bool(row["changed"]))


_EXTERNAL_IDS = RawStatement.compile(
    "SELECT id, external_id FROM call WHERE agency_id = :agency_id"
    " AND id = ANY(CAST(:call_ids AS uuid[])) AND external_id IS NOT NULL"
)


async def external_ids_of(
    conn: AsyncConnection, *, agency_id: UUID, call_ids: Sequence[UUID]
) -> dict[UUID, str]:
    """The CAD's ids (external_id) of those of the agency's calls that have one, by call."""
    if not call_ids:
        return {}
    params = {"agency_id": agency_id, "call_ids": sorted(set(call_ids))}
    rows = await (await driver(conn)).fetch(_EXTERNAL_IDS.sql, *_EXTERNAL_IDS.args(params))
    return {r["id"]: r["external_id"] for r in rows}


_Model = TypeVar("_Model", bound=Base)


def _objects(model: type[_Model], row: Any, alias: str, columns: tuple[str, ...]) -> list[_Model]:
    arrays = [row[f"{alias}_{c}"] or () for c in columns]
    return [
        model(**dict(zip(columns, values, strict=True))) for values in zip(*arrays, strict=True)
    ]


async def read_for_dispatch(
    conn: AsyncConnection,
    *,
    agency_id: UUID,
    call_id: UUID,
    units: Literal["dispatching"] | None = None,
    officer_ids: Sequence[UUID] | None = None,
    co_ids: Sequence[UUID] = (),
    now: datetime | None = None,
) -> CallForDispatch | None:
    """Lock the agency's call and read it with what a dispatch or a clear needs: one round
    trip, unless another transaction holds the call (then three).

    units="dispatching": also lock, in the same round trip, the units a dispatch names
    (officer_ids and co_ids; officer_ids None: its latest recommendation's); they are in
    `units` of the answer, read as lock_units reads them. When the call was held, the read
    locks none and `units` is None."""
    raw = await driver(conn)
    params = {
        "agency_id": agency_id,
        "call_id": call_id,
        "officer_ids": None if officer_ids is None else sorted(officer_ids),
        "co_ids": sorted(co_ids),
        "now": now,
    }
    first = _READ if units is None else _READ_DISPATCHING
    row = await raw.fetchrow(first.sql, *first.args(params))
    locked_units = None if row is None or units is None else _locked_units(row)
    if row is not None and not row["locked"]:
        await raw.execute(_LOCK_CALL.sql, *_LOCK_CALL.args(params))
        row = await raw.fetchrow(_READ.sql, *_READ.args(params))
        locked_units = None
    if row is None:
        return None
    return CallForDispatch(
        call=call_repo.call_record(row),
        recommendation=(
            None if row["r_id"] is None else call_repo.recommendation_record(row, prefix="r_")
        ),
        assignments=_objects(Assignment, row, "a", _ASSIGNMENT),
        dispatches=_objects(Dispatch, row, "dp", _DISPATCH),
        units=locked_units,
    )


def _locked_units(row: Any) -> dict[UUID, LockedUnit]:
    columns = (
        "id",
        "responder_type",
        "active",
        "status",
        "active_call_id",
        "external_incident",
        "call_sign",
        "on_shift",
    )
    arrays = [row[f"lu_{c}"] or () for c in columns]
    return {values[0]: LockedUnit(*values[1:]) for values in zip(*arrays, strict=True)}


@dataclass(frozen=True, slots=True)
class LockedUnit:
    """A unit's row as locked for a dispatch, with its call sign now and whether a shift
    of its covers now."""

    responder_type: ResponderType
    active: bool
    status: UnitStatus
    active_call_id: UUID | None
    # The CAD's incident it is busy on, if its report named one (SPEC §6.1).
    external_incident: str | None
    call_sign: str | None
    on_shift: bool


_LOCK = RawStatement.compile(
    f"""
WITH o AS MATERIALIZED (
    SELECT id, 'officer' AS responder_type, active, status, active_call_id,
           external_incident FROM officer
    WHERE agency_id = :agency_id AND id = ANY(CAST(:officer_ids AS uuid[]))
    ORDER BY id FOR UPDATE
), c AS MATERIALIZED (
    SELECT id, 'co_responder' AS responder_type, active, status, active_call_id,
           external_incident
    FROM co_responder
    WHERE agency_id = :agency_id AND id = ANY(CAST(:co_ids AS uuid[]))
    ORDER BY id FOR UPDATE
), u AS (
    SELECT * FROM o UNION ALL SELECT * FROM c
)
SELECT u.id, u.responder_type, u.active, u.status, u.active_call_id, u.external_incident,
       ({_CALL_SIGN.format(unit="u.id")}) AS call_sign,
       ({_ON_SHIFT.format(unit="u.id")}) AS on_shift
FROM u"""  # noqa: S608
)


async def lock_units(
    conn: AsyncConnection,
    *,
    agency_id: UUID,
    officer_ids: Sequence[UUID],
    co_ids: Sequence[UUID],
    now: datetime,
) -> dict[UUID, LockedUnit]:
    """Lock the agency's units among these ids (in the global order) and read their state."""
    params = {
        "agency_id": agency_id,
        "officer_ids": sorted(officer_ids),
        "co_ids": sorted(co_ids),
        "now": now,
    }
    rows = await (await driver(conn)).fetch(_LOCK.sql, *_LOCK.args(params))
    return {
        r["id"]: LockedUnit(
            responder_type=r["responder_type"],
            active=r["active"],
            status=r["status"],
            active_call_id=r["active_call_id"],
            external_incident=r["external_incident"],
            call_sign=r["call_sign"],
            on_shift=r["on_shift"],
        )
        for r in rows
    }
