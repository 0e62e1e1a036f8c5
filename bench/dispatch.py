"""Dispatch throughput: POST /v1/calls/{id}/dispatch alone, closed loop, timed apart.

A dispatch needs a call and free units, and a unit stays busy until its call is cleared.
Timing a create, dispatch, clear cycle would count three requests' work against one
dispatch, so the phase runs in rounds:

  1. create a batch of calls (not timed);
  2. dispatch them, `concurrency` clients back to back (timed: this is the figure);
  3. clear them, which frees every unit for the next round (not timed).

Each call of a batch gets units of its own, so no dispatch finds its units taken: a
co-responder leads with an officer backing up while co-responders last, then two officers.
The units are named in the request, with an override code when they differ from the
call's recommendation. Recommendations made for a whole batch before any of it is
dispatched would name the same nearest units over and over, and most dispatches would be
409s. Both ways run the same statements: lock the units, write the dispatch.

Its ratio to call intake is taken against intake measured beside it, in phases interleaved
with the rounds (intake, round, round, intake, ...), as the floor is with intake: phases
minutes apart on this machine differed by 20 % and more, and the dispatch phase comes late
in the benchmark. Intake beside the rounds also runs on what they leave behind until
autovacuum passes: each clear releases assignments (the candidate query counts each
unit's assignments of the last 24 h, visiting rows not yet vacuumed), and each dispatch
and clear rewrites its units' shift_coverage rows. With PostgreSQL's default
autovacuum_naptime of a minute, intake between ten rounds fell as low as 266-413/s in three
runs of four; the embedded server vacuums every 10 s (app/db/embedded.py), and it held
427-613/s in three runs (577-704/s before the rounds). Since the early intake phases run on
a younger database, bench/calls.py prints the ratio against them too.

The webhook receiver keeps counting throughout: the API is saturated in every step.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from uuid import UUID

from app.db import dsn
from bench.loadgen import Connection, Stats, Step, closed_loop

# Calls per round: enough that the round's last few requests, when fewer clients than
# `concurrency` are busy, weigh little in its time.
BATCH = 600
# Each intake phase beside a round: about as long as a round's timed dispatching.
INTAKE_SECONDS = 2.5

Body = dict[str, Any]


async def free_units(url: str, agency_id: UUID) -> tuple[list[UUID], list[UUID]]:
    """The agency's active, available co-responders and officers, by id."""
    conn = await dsn.connect(url)
    try:
        found = []
        for table in ("co_responder", "officer"):
            rows = await conn.fetch(
                f"SELECT id FROM {table} WHERE agency_id = $1 AND active"
                " AND status = 'available' ORDER BY id",
                agency_id,
            )
            found.append([r["id"] for r in rows])
    finally:
        await conn.close()
    return found[0], found[1]


def unit_pairs(co_responders: Sequence[UUID], officers: Sequence[UUID]) -> list[Body]:
    """Dispatch bodies, each with two units no other body names."""
    bodies = []
    officers = list(officers)
    for co_responder in co_responders:
        if not officers:
            break
        bodies.append(_body(("co_responder", co_responder), ("officer", officers.pop())))
    while len(officers) >= 2:
        bodies.append(_body(("officer", officers.pop()), ("officer", officers.pop())))
    return bodies


def _body(lead: tuple[str, UUID], backup: tuple[str, UUID]) -> Body:
    return {
        "units": [
            {"responder_type": lead[0], "responder_id": str(lead[1]), "role": "lead"},
            {"responder_type": backup[0], "responder_id": str(backup[1]), "role": "backup"},
        ],
        "override_code": "other",
        "override_reason": "benchmark: each call of the batch has units of its own",
    }


async def _drain(
    make: Callable[[], Connection],
    items: Sequence[Any],
    step: Callable[[Connection, Any], Awaitable[None]],
    concurrency: int,
) -> float:
    """Run step on every item, `concurrency` clients pulling from one queue; seconds."""
    queue = list(reversed(items))

    async def client() -> None:
        conn = make()
        try:
            while queue:
                await step(conn, queue.pop())
        finally:
            await conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return time.perf_counter() - started


async def measure(
    make: Callable[[], Connection],
    new_call: Callable[[], Body],
    bodies: Sequence[Body],
    *,
    intake: Step,
    concurrency: int,
    seconds: float,
) -> tuple[Stats, list[Stats]]:
    """Rounds of create, dispatch (timed), clear until `seconds` of dispatching, each
    beside a closed-loop phase of the intake step (intake, round, round, intake, ...): the
    dispatches, and each intake phase."""
    if not bodies:
        raise SystemExit("dispatch phase: the agency has no two free units")
    dispatched = Stats()
    beside: list[Stats] = []
    turn = 0
    while dispatched.seconds < seconds:
        if turn % 2 == 0:
            beside.append(await _intake_phase(make, intake, concurrency))
        await _round(make, new_call, bodies[:BATCH], dispatched, concurrency)
        if turn % 2 == 1:
            beside.append(await _intake_phase(make, intake, concurrency))
        turn += 1
    return dispatched, beside


async def _intake_phase(make: Callable[[], Connection], intake: Step, concurrency: int) -> Stats:
    """A phase of call intake about as long as a round's dispatching, after a second of
    it untimed: the rounds' dispatching, too, starts only after their calls are created."""
    await closed_loop(make, intake, concurrency=concurrency, seconds=1)
    return await closed_loop(make, intake, concurrency=concurrency, seconds=INTAKE_SECONDS)


async def _round(
    make: Callable[[], Connection],
    new_call: Callable[[], Body],
    bodies: Sequence[Body],
    dispatched: Stats,
    concurrency: int,
) -> None:
    calls: list[str] = []

    async def create(conn: Connection, _: Body) -> None:
        status, body = await conn.request("POST", "/v1/calls", new_call())
        _expect(status, 201, "POST /v1/calls", body)
        calls.append(json.loads(body)["id"])

    async def dispatch(conn: Connection, job: tuple[str, Body]) -> None:
        started = time.perf_counter()
        status, _ = await conn.request("POST", f"/v1/calls/{job[0]}/dispatch", job[1])
        dispatched.add(status, started)

    async def clear(conn: Connection, call_id: str) -> None:
        status, body = await conn.request(
            "POST", f"/v1/calls/{call_id}/clear", {"disposition": "bench"}
        )
        _expect(status, 200, "POST /v1/calls/{id}/clear", body)

    await _drain(make, bodies, create, concurrency)
    jobs = list(zip(calls, bodies, strict=True))
    dispatched.seconds += await _drain(make, jobs, dispatch, concurrency)
    await _drain(make, calls, clear, concurrency)


def _expect(status: int, wanted: int, what: str, body: bytes) -> None:
    if status != wanted:
        raise SystemExit(f"dispatch phase: {what} answered {status}: {body[:300]!r}")
