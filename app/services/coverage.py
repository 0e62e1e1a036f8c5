"""CIT and co-responder coverage over a range: percentages, the hour-of-week heat map, and
the gaps with whether the adjacent districts could cover them (docs/reports.md, "Coverage").

The database finds the covered intervals (app/repositories/coverage.py); this module turns
them into figures. The heat map is computed with numpy over the range's local hours, so its
cost follows the number of hours and districts, not the size of the roster.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.ext.asyncio import AsyncSession

from app.agency_context import AgencyContext
from app.figures import gap_hours, half_up
from app.repositories import coverage as repo
from app.repositories.agencies import latest_policy
from app.repositories.coverage import Interval
from app.schemas.reports import (
    CoverageGap,
    CoverageReport,
    CoverageSummary,
    CoverageTargets,
    DistrictCoverage,
    HourOfWeek,
)
from app.services.agency import district_id_of
from app.services.reports import Range
from app.vocabulary import COVERAGE_KINDS, CoverageKind

HOURS_OF_WEEK = 168


@dataclass(frozen=True)
class Hours:
    """The local hours a range reaches: their edges (Unix seconds, clipped to the range),
    each one's hour of the week (Monday 00:00 local is 0), and the seconds of the range in
    each hour-of-week bucket."""

    edges: NDArray[np.float64]
    bucket: NDArray[np.int64]
    exposure: NDArray[np.float64]

    @classmethod
    def of(cls, span: Range, zone: ZoneInfo) -> Hours:
        local = span.start.astimezone(zone).replace(minute=0, second=0, microsecond=0)
        # From a local hour boundary, an hour on is the next one, but where the clocks move
        # (daylight saving): a change inside the hour ends that stretch of it there
        # (Pacific/Chatham's clocks change at 02:45), and a clock moved by part of an hour
        # (Lord Howe Island's half hour) runs to the next boundary of the new clock.
        starts: list[float] = []
        buckets: list[int] = []
        moment, end = local.timestamp(), span.end.timestamp()
        while moment < end:
            wall = datetime.fromtimestamp(moment, zone)
            starts.append(moment)
            buckets.append(_hour_of_week(wall))
            moment = _next_boundary(moment, wall, zone)
        edges = np.clip(np.array([*starts, moment]), span.start.timestamp(), end)
        bucket = np.array(buckets, dtype=np.int64)
        exposure = np.bincount(bucket, weights=np.diff(edges), minlength=HOURS_OF_WEEK)
        return cls(edges, bucket, exposure.astype(np.float64))

    def fractions(self, covered: Sequence[Interval]) -> list[float | None]:
        """For each hour of the week, the share of it the intervals cover over the range."""
        seconds = np.diff(_covered_before(covered, self.edges))
        per_bucket = np.bincount(self.bucket, weights=seconds, minlength=HOURS_OF_WEEK)
        return [
            None if exposed == 0 else half_up(float(part / exposed), 3)
            for part, exposed in zip(per_bucket, self.exposure, strict=True)
        ]


def _next_boundary(moment: float, wall: datetime, zone: ZoneInfo) -> float:
    """The next local hour boundary after moment (wall is it, in the zone), or the clock
    change before it. Offsets and their changes fall on quarter hours (UTC), so a change
    inside the hour is found by its quarters, looked at only when the hour has one."""
    following = moment + 3600.0 - (wall.minute * 60 + wall.second)
    offset = wall.utcoffset()
    if datetime.fromtimestamp(following, zone).utcoffset() == offset:
        return following
    quarter = (moment // 900.0 + 1) * 900.0
    while quarter < following:
        if datetime.fromtimestamp(quarter, zone).utcoffset() != offset:
            return quarter
        quarter += 900.0
    return following


def _hour_of_week(moment: datetime) -> int:
    return moment.weekday() * 24 + moment.hour


def _covered_before(covered: Sequence[Interval], at: NDArray[np.float64]) -> NDArray[np.float64]:
    """For each instant in `at`, the seconds of the (sorted, disjoint) intervals before it."""
    if not covered:
        return np.zeros_like(at)
    starts = np.array([s.timestamp() for s, _ in covered])
    ends = np.array([e.timestamp() for _, e in covered])
    done = np.concatenate(([0.0], np.cumsum(ends - starts)))
    # Intervals wholly before each instant, then the part of the next one.
    k = np.searchsorted(ends, at, side="right")
    partial = np.zeros_like(at)
    inside = k < len(starts)
    partial[inside] = np.clip(at[inside] - starts[k[inside]], 0, None)
    return done[k] + partial


def gaps_of(covered: Sequence[Interval], span: Range) -> list[Interval]:
    """The maximal uncovered intervals of the range, in time order."""
    gaps, cursor = [], span.start
    for start, end in covered:
        if start > cursor:
            gaps.append((cursor, start))
        cursor = max(cursor, end)
    if cursor < span.end:
        gaps.append((cursor, span.end))
    return gaps


def union(lists: Iterable[Sequence[Interval]]) -> list[Interval]:
    merged: list[Interval] = []
    for start, end in sorted(i for intervals in lists for i in intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def contains(merged: Sequence[Interval], starts: Sequence[datetime], gap: Interval) -> bool:
    """Whether one of the merged (sorted, disjoint) intervals holds the whole gap; `starts`
    are their starts, for a binary search."""
    at = bisect_right(starts, gap[0]) - 1
    return at >= 0 and merged[at][1] >= gap[1]


def _share(covered: Sequence[Interval], span: Range) -> float:
    """The percentage of the span covered, unrounded."""
    seconds = sum((end - start).total_seconds() for start, end in covered)
    return 100 * seconds / span.seconds


@dataclass(frozen=True)
class _Kind:
    # Intervals with at least the target of units, and with at least one (adjacent cover).
    covered: dict[UUID, list[Interval]]
    any_unit: dict[UUID, list[Interval]]


def _kind(
    data: repo.Coverage, kind: CoverageKind, target: int, span: Range, ids: list[UUID]
) -> _Kind:
    if target == 0:
        # No unit is required: always covered, so no gap asks for adjacent cover.
        whole = [(span.start, span.end)]
        return _Kind(dict.fromkeys(ids, whole), {})
    return _Kind(data.get((kind, target), {}), data.get((kind, 1), {}))


def _district(
    code: str,
    district_id: UUID,
    neighbours: list[UUID],
    kinds: dict[CoverageKind, _Kind],
    span: Range,
    hours: Hours,
) -> DistrictCoverage:
    pct: dict[CoverageKind, float] = {}
    heat: dict[CoverageKind, list[float | None]] = {}
    gaps: list[CoverageGap] = []
    for kind in COVERAGE_KINDS:
        data = kinds[kind]
        covered = data.covered.get(district_id, [])
        pct[kind] = half_up(_share(covered, span), 1)
        heat[kind] = hours.fractions(covered)
        next_door = union(data.any_unit.get(n, []) for n in neighbours)
        starts = [start for start, _ in next_door]
        gaps.extend(
            CoverageGap(
                kind=kind,
                from_=start,
                to=end,
                hours=gap_hours(start, end),
                adjacent_cover=contains(next_door, starts, (start, end)),
            )
            for start, end in gaps_of(covered, span)
        )
    gaps.sort(key=lambda g: (g.from_, g.kind))
    return DistrictCoverage(
        district=code,
        cit_covered_pct=pct["cit"],
        co_responder_covered_pct=pct["co_responder"],
        by_hour_of_week=HourOfWeek(cit=heat["cit"], co_responder=heat["co_responder"]),
        gaps=gaps,
    )


def _mean(kind: _Kind, district_ids: Iterable[UUID], span: Range) -> float | None:
    """The districts' mean percentage, of their exact figures, rounded once: the mean of
    figures already rounded drifts (7.1 and 7.1 beside two zeros gave 3.5, not 3.6)."""
    shares = [_share(kind.covered.get(i, []), span) for i in district_ids]
    return None if not shares else half_up(sum(shares) / len(shares), 1)


async def report(
    session: AsyncSession, context: AgencyContext, *, span: Range, district: str | None
) -> CoverageReport:
    district_id_of(context, district)  # an unknown district is a 422
    policy = await latest_policy(session, context.agency_id)
    codes = sorted(context.districts_by_code) if district is None else [district]
    reported = {code: context.districts_by_code[code].id for code in codes}
    neighbours = {
        code: [context.districts_by_code[n].id for n in sorted(context.adjacency.get(code, ()))]
        for code in codes
    }
    needed = sorted(set(reported.values()) | {n for ns in neighbours.values() for n in ns})
    targets: dict[CoverageKind, int] = {
        "cit": policy.coverage_target_cit,
        "co_responder": policy.coverage_target_co_responders,
    }
    data = await repo.covered(
        session,
        agency_id=context.agency_id,
        timezone=context.timezone.key,
        targets=targets,
        start=span.start,
        end=span.end,
        district_ids=needed,
    )
    kinds = {kind: _kind(data, kind, target, span, needed) for kind, target in targets.items()}
    hours = Hours.of(span, context.timezone)
    districts = [
        _district(code, reported[code], neighbours[code], kinds, span, hours) for code in codes
    ]
    return CoverageReport(
        from_=span.start,
        to=span.end,
        timezone=context.timezone.key,
        targets=CoverageTargets(cit_officers=targets["cit"], co_responders=targets["co_responder"]),
        summary=CoverageSummary(
            cit_covered_pct=_mean(kinds["cit"], reported.values(), span),
            co_responder_covered_pct=_mean(kinds["co_responder"], reported.values(), span),
            districts=len(districts),
            districts_always_cit_covered=sum(
                1 for d in districts if not any(g.kind == "cit" for g in d.gaps)
            ),
        ),
        districts=districts,
    )


def every_gap(report: CoverageReport) -> list[tuple[str, CoverageGap]]:
    """Each district's gaps, with its code: one under way at the range's start is cut there."""
    return [(d.district, g) for d in report.districts for g in d.gaps]
