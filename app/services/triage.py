"""Triage: place a call, run the routing rules on its candidates, record the result."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app import metrics
from app.agency_context import AgencyContext
from app.db.unit_of_work import UnitOfWork, of_session
from app.errors import Invalid
from app.events import catalogue as events
from app.ids import new_id
from app.records.calls import CallRecord, Location
from app.records.recommendations import RecommendationRecord, recommendation_record
from app.repositories import assignments as assignment_repo
from app.repositories import calls as repo
from app.repositories.candidates import load_candidates, load_units_on_call
from app.routing import is_minor, recommend
from app.routing.types import CallFacts, Candidate, GeoPoint, LeftUnit
from app.security import Principal
from app.services import audit
from app.vocabulary import LEAD_OF, AuditOutcome, CallChange


def resolve_district(
    context: AgencyContext, code: str | None, location: Location | None
) -> tuple[UUID, str]:
    """The call's district: the one given, else the one whose boundary holds the location."""
    if code is None:
        point = None if location is None else location.point
        if point is None:
            raise Invalid(
                "an address alone does not place the call; give a district, or lat and lon",
                loc=("body", "location"),
            )
        code = context.locate(*point)
        if code is None:
            raise Invalid(
                "no district boundary contains the location; give a district",
                loc=("body", "location"),
            )
    info = context.districts_by_code.get(code)
    if info is None:
        raise Invalid(context.unknown_district(code), loc=("body", "district"))
    return info.id, code


def call_facts(call: CallRecord, context: AgencyContext) -> CallFacts:
    """What the routing core needs to know of the call."""
    point = None if call.location is None else call.location.point
    age = call.subject.get("age")
    outside = point is not None and context.outside(call.district, *point)
    located_in = context.locate(*point) if outside and point is not None else None
    return CallFacts(
        district=call.district,
        location=None if point is None else GeoPoint(*point),
        nature=call.nature,
        safety=frozenset(flag for flag, on in call.safety.items() if on),
        subject_age=age if isinstance(age, int) else None,
        outside_district=outside,
        located_in=located_in,
        outside_by_km=(
            context.away_km(call.district, *point)
            if outside and located_in is None and point is not None
            else None
        ),
        unread_cautions=call.unread_cautions,
    )


async def triage(
    conn: AsyncConnection,
    context: AgencyContext,
    call: CallRecord,
    *,
    now: datetime,
    left: tuple[LeftUnit, ...] = (),
    stranded_by: LeftUnit | None = None,
) -> RecommendationRecord:
    """Load the reachable candidates (but the units called away from the call: left), run
    the pure routing rules, and keep the answer as the call's next recommendation (not yet
    written). stranded_by: the unit whose going out of service left the dispatched call
    with none on it."""
    facts = replace(call_facts(call, context), left=left, stranded_by=stranded_by)
    policy = context.policy
    # Districts next to the call's, as far as the context knows them. The call's own
    # district is passed by id: it may be newer than this instance's cached context.
    rings = {
        context.districts_by_code[code].id: hop
        for code, hop in context.reach(call.district, policy.adjacency_depth).items()
        if hop > 0
    }
    local_now = now.astimezone(context.timezone)
    candidates = await load_candidates(
        conn,
        agency_id=context.agency_id,
        district_id=call.district_id,
        district_code=call.district,
        rings=rings,
        codes=context.district_codes,
        now=now,
        today=local_now.date(),
        location=facts.location,
        minor=is_minor(facts),
        excluded=[unit.responder_id for unit in left],
    )
    if call.status == "dispatched":
        candidates = await _with_units_on_call(
            conn, context, call, candidates, now=now, today=local_now.date()
        )
    result = recommend(facts, candidates, policy, local_now, adjacency=context.adjacency)
    return recommendation_record(
        result, id=new_id(), agency_id=call.agency_id, call_id=call.id, created_at=now
    )


async def _with_units_on_call(
    conn: AsyncConnection,
    context: AgencyContext,
    call: CallRecord,
    candidates: list[Candidate],
    *,
    now: datetime,
    today: date,
) -> list[Candidate]:
    """The candidates, and the units already on the call, marked on_call.

    A dispatched call's recommendation (after new information, or when a dispatch finds
    nothing to assign) must count the units working it. Left out as busy, a co-responder
    leading the call made it look as if none were free: the recommendation turned to law
    enforcement, escalated the call and named a second lead. Ranked as any unit, a free
    one just like it would displace it. The routing core ranks on_call units first among
    their kind, whatever their status, shift or district (app/routing/ranking.py).
    """
    on_call = await load_units_on_call(
        conn,
        agency_id=context.agency_id,
        call_id=call.id,
        district_id=call.district_id,
        district_code=call.district,
        codes=context.district_codes,
        now=now,
        today=today,
    )
    ids = {unit.responder_id for unit in on_call}
    return [c for c in candidates if c.responder_id not in ids] + on_call


# The audit entry of each cause of a re-triage: its action and outcome.
_AUDITED_AS: dict[str, tuple[str, AuditOutcome]] = {
    "update": ("call.update", "success"),
    "restate": ("call.update", "success"),
    "dispatch": ("call.dispatch", "error"),
    "lead_left": ("call.retriage", "success"),
    "units_gone": ("call.retriage", "success"),
    "units_back": ("call.retriage", "success"),
}


async def retriage(
    session: AsyncSession,
    context: AgencyContext,
    who: Principal,
    call: CallRecord,
    *,
    request_id: str | None,
    now: datetime,
    cause: Literal["update", "restate", "dispatch", "lead_left", "units_gone", "units_back"],
    detail: dict[str, Any] | None = None,
    left: LeftUnit | None = None,
    changed: Iterable[CallChange] = (),
) -> RecommendationRecord:
    """Re-triage the call as it stands and store the new recommendation in its history.

    The cause: new information (PATCH: call.updated is emitted, and the audit entry is the
    update's success), a PATCH that changed nothing (restate: its audit entry, no
    call.updated), a dispatch that could not assign (the entry records the dispatch's
    failure), the unit leading the call gone from it while others stay (call.updated too,
    for the units left on it), the last unit on
    it gone out of service (units_gone), or a dispatch sending units to it since
    (units_back: staffed) (its own entry, call.retriage, with detail).
    A dispatched call with no unit on it, the last having gone out of service, is warned
    of (no_unit_on_call) by every re-triage until a unit is on it again. A change of lead
    on a dispatched call also emits call.escalated, unless the unit leading it is of that
    kind already (a dispatcher sent it by override, and that dispatch told it); so does a
    safety concern newly found on a call the other kind leads, though the lead recommended
    stays. When the lead left, the change is from the kind that left (`left`), which an
    override may have made other than recommended. With no unit on the call (kind None)
    it is the CAD that hears it; the re-triage caused by the last unit going out of
    service escalates nothing, as its recommendation tells the consoles whom to send.
    Neither that unit nor any that led the call and was called away from it before (last
    left it while others stayed: assignment_repo.left_leads) is recommended for it; named
    again by a later re-triage, they would be no answer.
    """
    gone = await _left_leads(session, context, call, now=now, just_left=left)
    worked = call.status == "dispatched" and await assignment_repo.worked(session, call.id)
    stranded = None
    if call.status == "dispatched" and not worked:
        found = await assignment_repo.stranded_by(
            session, agency_id=context.agency_id, call_id=call.id
        )
        stranded = None if found is None else LeftUnit(*found, status="out_of_service")
    rec = await triage(
        await session.connection(), context, call, now=now, left=gone, stranded_by=stranded
    )
    previous = (await repo.latest_recommendations(session, [call.id])).get(call.id)
    # The unit leading the call gone while others stay changed it too: the units left on it
    # hear call.updated (heard on the call), whether or not the lead's kind changes (a
    # co-responder alone on a weapon call its CIT officer left was told nothing).
    # It says what changed: the fields an update changed, or the lead leaving.
    updated = cause in ("update", "lead_left")
    what: Iterable[CallChange] = ("lead_left",) if cause == "lead_left" else changed
    news = [events.call_updated(call, lead=rec.lead, changed=what)] if updated else []
    news.append(events.recommendation_created(call, rec))
    was = LEAD_OF[left.responder_type] if left else (previous.lead if previous else None)
    # New safety information escalates a call that mental health leads though law
    # enforcement was recommended already (no co-responder was in reach; a dispatcher sent
    # one): the lead recommended stays, the lead needed changes (SPEC §1).
    flagged = rec.safety_concern and previous is not None and not previous.safety_concern
    # Told on any dispatched call, units on it or not: the CAD hears every call.escalated,
    # and a weapon reported on a call its units left is the news it needs. Only the
    # re-triage of the last unit's going out of service is none: its recommendation,
    # warned no_unit_on_call, tells whom to send; nor the one of the dispatch that sent
    # units to it, which told them their parts.
    told = call.status == "dispatched" and cause not in ("units_gone", "units_back")
    if told and was is not None and (was != rec.lead or flagged):
        kind = await assignment_repo.leading(session, call.id)
        if kind is not None and LEAD_OF[kind] != rec.lead:
            news.append(events.call_escalated(call, rec, previous_lead=LEAD_OF[kind]))
        elif kind is None and was != rec.lead:
            news.append(events.call_escalated(call, rec, previous_lead=was))
    action, outcome = _AUDITED_AS[cause]
    entry = audit.call_entry(
        who, call.id, action=action, request_id=request_id, at=now, outcome=outcome, detail=detail
    )
    await repo.insert_recommendation(session, rec, events=news, entry=entry)
    count_when_committed(of_session(session), rec)
    return rec


async def staffed(
    session: AsyncSession,
    context: AgencyContext,
    who: Principal,
    call: CallRecord,
    rec: RecommendationRecord | None,
    *,
    request_id: str | None,
    now: datetime,
) -> RecommendationRecord | None:
    """Renew the latest recommendation (rec) of a call a dispatch has just sent units to,
    when it warns no_unit_on_call, and give the one the call now shows. Left as it was, the
    call showed that warning first beside the units sent, and after they had finished the
    work, until a PATCH renewed it: the board read a call done as one needing units."""
    if rec is None or all(w["code"] != "no_unit_on_call" for w in rec.warnings):
        return rec
    back = {"reason": "a unit is on the call again"}
    return await retriage(
        session, context, who, call, request_id=request_id, now=now, cause="units_back", detail=back
    )


async def _left_leads(
    session: AsyncSession,
    context: AgencyContext,
    call: CallRecord,
    *,
    now: datetime,
    just_left: LeftUnit | None,
) -> tuple[LeftUnit, ...]:
    """The units that led the dispatched call and were called away from it
    (assignment_repo.left_leads), in the order they last left, the one whose leaving causes
    this re-triage with the status it reported."""
    if call.status != "dispatched":
        return ()
    found = await assignment_repo.left_leads(
        session, agency_id=context.agency_id, call_id=call.id, now=now
    )
    units = [LeftUnit(kind, unit_id, sign) for kind, unit_id, sign in found]
    if just_left is not None:
        units = [u for u in units if u.responder_id != just_left.responder_id] + [just_left]
    return tuple(units)


def count_when_committed(work: UnitOfWork, rec: RecommendationRecord) -> None:
    """Count the recommendation and its warnings in the metrics once work commits: a
    rolled-back one is never counted, and a replayed answer never runs this."""
    codes = [warning["code"] for warning in rec.warnings]
    work.after_commit(lambda: metrics.count_recommendation(rec.lead, codes))
