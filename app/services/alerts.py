"""Alerts ahead of time (docs/reports.md, "Alerts"): coverage gaps on the roster in the next
days, and CIT certifications about to end. The housekeeping loop runs look_ahead; each alert
is an outbox event, written with its record in `alert_sent`, so it goes out once."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from app.agency_context import AgencyContext
from app.events import catalogue as events
from app.events.catalogue import OutboxEvent
from app.repositories import alerts as repo
from app.repositories import events as outbox
from app.repositories.agencies import latest_policy
from app.schemas.reports import CoverageGap, CoverageReport
from app.services import agency, coverage, program
from app.services.reports import Range
from app.state import AppState

log = logging.getLogger(__name__)

# Days before a certification ends at which its alert is sent, nearest first.
CERTIFICATION_THRESHOLDS = (7, 30, 60)
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
        except Exception:
            # One agency's failure (a bad roster, a lost connection) must not silence others.
            log.warning("alerts failed", extra={"agency_id": str(agency_id)}, exc_info=True)
    return sent


async def _whole_gaps(
    session: AsyncSession, context: AgencyContext, ahead: CoverageReport, span: Range
) -> tuple[list[tuple[str, CoverageGap]], datetime]:
    """The gaps under way at span's start or starting within it, each whole: one the span
    cuts off is read again from a report LOOK_PAST further on, for its real end (and whether
    the neighbours cover all of it). With the end of what was read: a gap that reaches it
    has no end on the roster yet. An alert is sent once; a gap of 37 hours told as the hour
    left in the window would never be put right."""
    gaps = coverage.every_gap(ahead)
    if all(gap.to < span.end for _, gap in gaps):
        return gaps, span.end
    further = Range(span.start, span.end + LOOK_PAST)
    longer = await coverage.report(session, context, span=further, district=None)
    whole = {(d, g.kind, g.from_): g for d, g in coverage.every_gap(longer)}
    return [
        (d, whole.get((d, g.kind, g.from_), g) if g.to >= span.end else g) for d, g in gaps
    ], further.end


# The record, beside a gap's own, of a gap told ahead: its district, kind, end ("open" for
# none on the roster) and, after "@", its start.
TOLD = "coverage.gap_told:"


async def _gap_alerts(
    session: AsyncSession, context: AgencyContext, days: int, now: datetime
) -> tuple[dict[str, OutboxEvent], set[str]]:
    """The gap alerts due, by key, and the records to keep with them (TOLD)."""
    span = Range(now, now + timedelta(days=days))
    ahead = await coverage.report(session, context, span=span, district=None)
    targets = {"cit": ahead.targets.cit_officers, "co_responder": ahead.targets.co_responders}
    gaps, horizon = await _whole_gaps(session, context, ahead, span)
    alerts: dict[str, OutboxEvent] = {}
    told: set[str] = set()
    told_before: dict[str, datetime] | None = None
    for district, gap in gaps:
        ends = None if gap.to >= horizon else gap.to
        end = f"{district}:{gap.kind}:{'open' if ends is None else ends.isoformat()}"
        under_way = gap.from_ <= now
        if not under_way:
            # A gap first told without an end is told again once the roster gives it one:
            # the key says which.
            key = f"coverage.gap_ahead:{district}:{gap.kind}:{gap.from_.isoformat()}"
            key += ":open" if ends is None else ""
            told.add(f"{TOLD}{end}@{gap.from_.isoformat()}")
        else:
            # Under way when first seen (a shift ended early, a district with nobody on its
            # roster): its start is not in the report, so its end names it, and it is told
            # from now, once per end the roster gives it. Not when it was told ahead to
            # start by now with that end: that is the gap beginning as foretold.
            if told_before is None:
                told_before = _earliest_starts(
                    await repo.keys_starting(session, context.agency_id, TOLD)
                )
            if end in told_before and told_before[end] <= now:
                continue
            key = f"coverage.gap_under_way:{end}"
        alerts[key] = events.coverage_gap_ahead(
            district=district,
            kind=gap.kind,
            starts=gap.from_,
            ends=ends,
            adjacent_cover=gap.adjacent_cover,
            target=targets[gap.kind],
            under_way=under_way,
        )
    return alerts, told


def _earliest_starts(keys: list[str]) -> dict[str, datetime]:
    """The earliest start told ahead for each district, kind and end (TOLD records)."""
    earliest: dict[str, datetime] = {}
    for key in keys:
        end, _, start = key.removeprefix(TOLD).rpartition("@")
        at = datetime.fromisoformat(start)
        earliest[end] = min(at, earliest.get(end, at))
    return earliest


async def _agency(state: AppState, agency_id: UUID, now: datetime) -> int:
    context = await agency.context(state, agency_id)
    async with state.unit_of_work(agency_id) as work:
        session = await work.session()
        policy = await latest_policy(session, agency_id)
        candidates: dict[str, OutboxEvent] = {}
        told: set[str] = set()
        if policy.coverage_alert_days > 0:
            candidates, told = await _gap_alerts(session, context, policy.coverage_alert_days, now)
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
        new = await repo.claim(session, agency_id, sorted({*candidates, *told}))
        due = [event for key, event in sorted(candidates.items()) if key in new]
        await outbox.write(session, agency_id=agency_id, at=now, events=due)
    return len(due)
