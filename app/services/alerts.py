"""Alerts ahead of time (docs/reports.md, "Alerts"): coverage gaps on the roster in the next
days, and CIT certifications about to end. The housekeeping loop runs look_ahead; each alert
is an outbox event, written with its record in `alert_sent`, so it goes out once."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from app.agency_context import AgencyContext
from app.db.failures import log_failure
from app.events import catalogue as events
from app.events.catalogue import OutboxEvent
from app.repositories import alerts as repo
from app.repositories import districts as district_repo
from app.repositories import events as outbox
from app.repositories.agencies import latest_policy
from app.schemas.reports import CoverageGap
from app.services import agency, coverage, program
from app.services.reports import Range
from app.state import AppState
from app.vocabulary import COVERAGE_KINDS, CoverageKind

log = logging.getLogger(__name__)

# Days before a certification ends at which its alert is sent, nearest first.
CERTIFICATION_THRESHOLDS = (7, 30, 60)
# How far back the roster is read for the gaps under way: one that began within it is told
# by its start (its key as when it was ahead); one under way longer was seen as it began.
LOOK_BACK = timedelta(days=1)
# How much further than policy.coverage_alert_days a gap that runs past them is followed,
# for its end; one that runs further still is told as having no end on the roster yet.
LOOK_PAST = timedelta(days=31)
# Alert records older than this are forgotten; every alert is about at most 60 days ahead.
KEEP_RECORDS = timedelta(days=120)


async def look_ahead(state: AppState, *, now: datetime | None = None) -> int:
    """Send the alerts due in every agency; returns how many were sent."""
    now = now or datetime.now(UTC)
    async with state.system.connect() as conn:
        agencies = await repo.agency_ids(conn)
        await repo.purge(conn, before=now - KEEP_RECORDS)
    sent = 0
    for agency_id in agencies:
        try:
            sent += await _agency(state, agency_id, now)
        except Exception as exc:
            # One agency's failure (a bad roster, a lost connection) must not silence others.
            log_failure(log, "alerts failed", exc, {"agency_id": str(agency_id)})
    return sent


async def _whole_gaps(
    session: AsyncSession,
    context: AgencyContext,
    gaps: list[tuple[str, CoverageGap]],
    span: Range,
) -> tuple[list[tuple[str, CoverageGap]], datetime]:
    """These gaps of span's report, each whole: one the span cuts off is read again from a
    report LOOK_PAST further on, for its real end (and whether the neighbours cover all of
    it). With the end of what was read: a gap that reaches it has no end on the roster yet.
    An alert is sent once; a gap of 37 hours told as the hour left in the window would
    never be put right."""
    if all(gap.to < span.end for _, gap in gaps):
        return gaps, span.end
    further = Range(span.start, span.end + LOOK_PAST)
    longer = await coverage.report(session, context, span=further, district=None)
    whole = {(d, g.kind, g.from_): g for d, g in coverage.every_gap(longer)}
    return [
        (d, whole.get((d, g.kind, g.from_), g) if g.to >= span.end else g) for d, g in gaps
    ], further.end


# A gap alert's key: its district, kind and start name the gap.
GAP_KEY = "coverage.gap_ahead:"


def _gap_key(district: str, kind: str, starts: datetime) -> str:
    return f"{GAP_KEY}{district}:{kind}:{starts.isoformat()}"


async def _gaps_closed(
    session: AsyncSession,
    context: AgencyContext,
    alerts: dict[str, tuple[str, OutboxEvent]],
    told_now: dict[tuple[str, str, datetime], datetime],
    every: list[tuple[str, CoverageGap]],
    span: Range,
    now: datetime,
) -> list[OutboxEvent]:
    """The gaps told that the roster no longer has as told, before the end told: recorded
    as closed, each with its coverage.gap_closed. One is closed when no part of it from now
    on is a gap any more (a shift added, a certification recorded: `part_of` null), or
    when every part that is lies in a gap this look tells by its own start (its start moved:
    a shift ended early; two gaps became one: `part_of` that gap's start). One whose time
    lies in a gap this look does not tell (under way for more than a day) stays as told:
    closing it would leave the coordinator with no gap where there is one. Only the gaps
    the look could find are judged: those starting after the report's start (one under way
    longer was seen as it began) and before its end (the policy may look fewer days ahead
    now), and not over as told. One told to end past the look's days, or with no end, is
    judged to its end (LOOK_PAST further for none, as it was told), from a longer report: a
    part of it past the days looked ahead, not told by this look, keeps it as told."""
    agency_id = context.agency_id
    judged: list[tuple[str, str, CoverageKind, datetime, datetime | None]] = []
    for key, end in sorted((await repo.gaps_told(session, agency_id, GAP_KEY)).items()):
        district, kind, start = key.removeprefix(GAP_KEY).split(":", 2)
        starts = datetime.fromisoformat(start)
        ends = None if end == "open" else datetime.fromisoformat(end)
        known = next((k for k in COVERAGE_KINDS if k == kind), None)
        if known is None or key in alerts or not span.start < starts < span.end:
            continue
        if ends is None or ends > now:  # one over as told is not judged
            judged.append((key, district, known, starts, ends))
    # Those told to end past the look's days, or with no end, are judged to that end (or
    # LOOK_PAST further, as one with none was told), from one longer report: a gap told
    # when the policy looked more days ahead may end further still.
    horizon = span.end + LOOK_PAST
    reach = max([horizon, *(ends for *_, ends in judged if ends is not None)])
    longer: list[tuple[str, CoverageGap]] = []
    if any(ends is None or ends > span.end for *_, ends in judged):
        report = await coverage.report(
            session, context, span=Range(span.start, reach), district=None
        )
        longer = coverage.every_gap(report)
    closed: list[OutboxEvent] = []
    closing: list[str] = []
    for key, district, kind, starts, ends in judged:
        since = max(starts, now)
        if ends is not None and ends <= span.end:
            seen, until = every, ends
        else:
            seen, until = longer, horizon if ends is None else ends
        still = [
            g
            for d, g in seen
            if d == district and g.kind == kind and g.from_ < until and g.to > since
        ]
        holders = [told_now.get((district, kind, g.from_)) for g in still]
        if any(holder is None for holder in holders):
            continue
        part_of = next((h for h in holders if h is not None), None)
        closed.append(
            events.coverage_gap_closed(
                district=district, kind=kind, starts=starts, ends=ends, part_of=part_of
            )
        )
        closing.append(key)
    await repo.close(session, agency_id, closing)
    return closed


async def _gap_alerts(
    session: AsyncSession, context: AgencyContext, days: int, now: datetime
) -> tuple[dict[str, tuple[str, OutboxEvent]], list[OutboxEvent]]:
    """The gap alerts due, by key, with the end each tells ("open" for none): the gaps
    starting within days of now, and those under way that began within LOOK_BACK (a shift
    ended early at 03:00, seen at 03:05), or with their district if it is newer (nobody on
    its roster yet). The district, kind and start name a gap, so one told ahead is not told
    again as it begins (its end is told again when the roster moves it); one under way for
    longer was seen as it began, by a look before (every 10 minutes), and a change of its
    end after that is not told."""
    span = Range(now - LOOK_BACK, now + timedelta(days=days))
    report = await coverage.report(session, context, span=span, district=None)
    targets = {"cit": report.targets.cit_officers, "co_responder": report.targets.co_responders}
    # Read as soon as any gap is under way, not only one reaching the look's start: a gap
    # that began before its district was made must start at the making on every look. Read
    # only for another district's gap, one look told it from the roster's start of it, the
    # next from the making, as a new gap, with the first closed.
    new_districts: dict[str, datetime] = {}
    looked_up = False
    wanted: list[tuple[str, CoverageGap]] = []
    for district, gap in coverage.every_gap(report):
        if gap.to <= now:
            continue  # over
        if gap.from_ <= now and not looked_up:
            new_districts = await district_repo.created_since(
                session, agency_id=context.agency_id, since=span.start
            )
            looked_up = True
        if gap.from_ <= span.start and district not in new_districts:
            continue
        wanted.append((district, gap))
    gaps, horizon = await _whole_gaps(session, context, wanted, span)
    alerts: dict[str, tuple[str, OutboxEvent]] = {}
    # Each gap this look tells, by the report's start of it: the start it is told by.
    told_now: dict[tuple[str, str, datetime], datetime] = {}
    for district, gap in gaps:
        ends = None if gap.to >= horizon else gap.to
        # A gap under way since before its district existed began with it.
        starts = max(gap.from_, new_districts.get(district, gap.from_))
        told_now[district, gap.kind, gap.from_] = starts
        # A gap is told again when the roster moves its end, or gives it one: one told to
        # end at 06:00 that now runs to 14:00 (a shift deleted) would otherwise leave the
        # coordinator planning for the shorter gap. alert_sent keeps the end told.
        key = _gap_key(district, gap.kind, starts)
        alerts[key] = (
            "open" if ends is None else ends.isoformat(),
            events.coverage_gap_ahead(
                district=district,
                kind=gap.kind,
                starts=starts,
                ends=ends,
                adjacent_cover=gap.adjacent_cover,
                target=targets[gap.kind],
                under_way=starts <= now,
            ),
        )
    every = coverage.every_gap(report)
    closed = await _gaps_closed(session, context, alerts, told_now, every, span, now)
    return alerts, closed


async def _agency(state: AppState, agency_id: UUID, now: datetime) -> int:
    context = await agency.context(state, agency_id)
    async with state.unit_of_work(agency_id) as work:
        session = await work.session()
        await repo.lock_looks(session, agency_id)
        policy = await latest_policy(session, agency_id)
        gaps: dict[str, tuple[str, OutboxEvent]] = {}
        closed: list[OutboxEvent] = []
        if policy.coverage_alert_days > 0:
            gaps, closed = await _gap_alerts(session, context, policy.coverage_alert_days, now)
        candidates = {key: event for key, (_, event) in gaps.items()}
        soon = await program.expiring(
            session, context, now=now, within_days=max(CERTIFICATION_THRESHOLDS)
        )
        for cert in soon:
            threshold = next(t for t in CERTIFICATION_THRESHOLDS if cert.days_left <= t)
            key = f"certification.expiring:{cert.officer_id}:{cert.expires_on}:{threshold}"
            candidates[key] = events.certification_expiring(
                officer_id=cert.officer_id,
                name=cert.name,
                badge_number=cert.badge_number,
                state_officer_id=cert.state_officer_id,
                expires_on=cert.expires_on,
                days_left=cert.days_left,
                threshold_days=threshold,
                districts=cert.districts,
            )
        new = await repo.claim_told(session, agency_id, {k: told for k, (told, _) in gaps.items()})
        new |= await repo.claim(session, agency_id, sorted(set(candidates) - set(gaps)))
        due = [*closed, *(event for key, event in sorted(candidates.items()) if key in new)]
        await outbox.write(session, agency_id=agency_id, at=now, events=due)
    return len(due)
