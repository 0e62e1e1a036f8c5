"""The --coverage mode of bench/calls.py: the CIT program's reports timed on a year of data.

It seeds one agency in bulk (bench/roster_year.py, bench/call_year.py), starts the service,
times GET /v1/coverage and GET /v1/reports/outcomes over HTTP, checks every answer against
what was seeded, and prints a line per report (bench/calls.py's docstring has the lines).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from bench.call_year import SeededCalls, seed_calls, year_range
from bench.loadgen import Connection
from bench.roster_year import TIMEZONE, SeededYear, seed_year
from bench.service import serving, wait_ready

# The all-district coverage report's target over a year, by roster size (at most so many
# officers: at most so many milliseconds).
COVERAGE_TARGETS_MS = ((2000, 1000), (20000, 5000))
ONE_DISTRICT = "D23"

Check = Callable[[dict[str, Any]], None]


def _fail(what: str, detail: object) -> None:
    raise SystemExit(f"{what}: {detail}")


async def _time_report(conn: Connection, path: str, runs: int, check: Check) -> list[float]:
    """One warm-up, then `runs` timed requests; every answer is checked (after its timing)."""
    times = []
    for run in range(runs + 1):
        started = time.perf_counter()
        status, body = await conn.request("GET", path)
        elapsed = (time.perf_counter() - started) * 1000
        if status != 200:
            _fail(f"GET {path}", f"{status} {body[:500]!r}")
        check(json.loads(body))
        if run:
            times.append(elapsed)
    return times


def _timing(times: list[float]) -> str:
    return f"median {statistics.median(times):.0f} ms, min {min(times):.0f} ms"


def _check_coverage(codes: list[str], got: dict[str, Any]) -> None:
    reported = [d["district"] for d in got["districts"]]
    if reported != codes or got["summary"]["districts"] != len(codes):
        _fail("coverage report districts", f"{reported} (summary {got['summary']})")
    for kind in ("cit", "co_responder"):
        if not got["summary"][f"{kind}_covered_pct"] > 0:
            _fail("coverage report summary", got["summary"])
        for d in got["districts"]:
            pct = d[f"{kind}_covered_pct"]
            if not 0 <= pct <= 100 or len(d["by_hour_of_week"][kind]) != 168:
                _fail(f"coverage of {d['district']}", f"{kind} {pct} %")


def _check_outcomes(calls: SeededCalls, months: int | None, got: dict[str, Any]) -> None:
    groups = got["groups"]
    if months is not None:
        if len(groups) != months or sum(g["calls"] for g in groups) != calls.calls:
            _fail("outcome report by month", [(g["key"], g["calls"]) for g in groups])
        return
    (group,) = groups
    expected = {
        "calls": calls.calls,
        "cleared": calls.cleared,
        "lead_recommended.mental_health": calls.recommended_mental_health,
        "lead_dispatched.not_dispatched": calls.not_dispatched,
        "mh_lead_not_followed.total": calls.mental_health_not_followed,
    }
    for figure, want in expected.items():
        value = group
        for part in figure.split("."):
            value = value[part]
        if value != want:
            _fail(f"outcome report {figure}", f"{value}, seeded {want}")


async def _reports(
    args: argparse.Namespace,
    year: SeededYear,
    calls: SeededCalls,
    port: int,
    serve: subprocess.Popen[bytes],
) -> list[str]:
    """Time the reports over HTTP; the report's lines."""
    await wait_ready(port, serve)
    conn = Connection("127.0.0.1", port, {"Authorization": f"Bearer {year.api_key}"})
    days = (calls.end - calls.start).days
    span = {"from": calls.start.isoformat(), "to": calls.end.isoformat()}
    codes = sorted(year.districts)
    whole: dict[str, Any] = {}

    def check_all(got: dict[str, Any]) -> None:
        _check_coverage(codes, got)
        whole.update(got)

    def check_one(got: dict[str, Any]) -> None:
        _check_coverage([ONE_DISTRICT], got)
        (one,) = [d for d in whole["districts"] if d["district"] == ONE_DISTRICT]
        if got["districts"][0] != one:
            _fail(f"coverage of {ONE_DISTRICT}", "differs from its part of the whole report")

    first, last = calls.start, calls.end - timedelta(microseconds=1)  # local times
    months = (last.year - first.year) * 12 + last.month - first.month + 1
    try:
        all_districts = await _time_report(
            conn, f"/v1/coverage?{urlencode(span)}", args.runs, check_all
        )
        one_district = await _time_report(
            conn,
            f"/v1/coverage?{urlencode({**span, 'district': ONE_DISTRICT})}",
            args.runs,
            check_one,
        )
        outcomes = await _time_report(
            conn,
            f"/v1/reports/outcomes?{urlencode(span)}",
            args.runs,
            lambda got: _check_outcomes(calls, None, got),
        )
        by_month = await _time_report(
            conn,
            f"/v1/reports/outcomes?{urlencode({**span, 'group_by': 'month'})}",
            args.runs,
            lambda got: _check_outcomes(calls, months, got),
        )
    finally:
        await conn.close()
    target = next((ms for size, ms in COVERAGE_TARGETS_MS if year.officers <= size), None)
    verdict = ""
    if target is not None:
        met = "met" if statistics.median(all_districts) <= target else "MISSED"
        verdict = f" (target <= {target} ms: {met})"
    return [
        f"\n{args.runs} runs after one warm-up, over HTTP",
        f"coverage report, {days} days x {len(codes)} districts, {year.officers} officers: "
        f"{_timing(all_districts)}{verdict}",
        f"coverage report, {days} days, one district, {year.officers} officers: "
        f"{_timing(one_district)}",
        f"outcome report, {days} days, {calls.calls} calls: {_timing(outcomes)}",
        f"outcome report by month, {days} days, {calls.calls} calls: {_timing(by_month)}",
    ]


def run(args: argparse.Namespace, url: str, data_dir: Path) -> None:
    """The --coverage mode: seed a year, start the service, time the reports."""
    today = datetime.now(ZoneInfo(TIMEZONE)).date()
    year = asyncio.run(
        seed_year(
            url, officers=args.officers, start=today - timedelta(days=args.days), days=args.days
        )
    )
    start, end = year_range(year)
    print(
        f"seeded 50 districts, {year.officers} officers ({year.cit_officers} CIT), "
        f"{year.co_responders} co-responders, 8-hour watches from {start:%Y-%m-%d} to "
        f"{end:%Y-%m-%d}: {year.shifts} shifts, {year.coverage_rows} coverage rows "
        f"in {year.seconds:.1f} s"
    )
    calls = asyncio.run(seed_calls(url, year, calls=args.calls))
    print(
        f"seeded {calls.calls} calls over those days ({calls.cleared} cleared, "
        f"{calls.assignments} assignments) in {calls.seconds:.1f} s"
    )
    with serving(args, data_dir) as (port, serve):
        lines = asyncio.run(_reports(args, year, calls, port, serve))
    for line in lines:
        print(line)
