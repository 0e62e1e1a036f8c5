"""Benchmark: crisis-call intake against the GET /readyz floor, EIDO import, dispatch,
webhooks and the live feed.

Run after the dev install:  python bench/calls.py  [--officers 20000] [--scale]
It starts the service on the embedded PostgreSQL, seeds one agency, and drives it on
loopback. Beside the intake figures it prints
  eido/calls throughput ratio: X   (POST /v1/eido against POST /v1/calls; target >= 0.5)
  event-to-stream latency at 100 streams, 10 dispatches/s: p50 X ms, p99 Y ms
(bench/stream.py; targets p50 <= 50 ms, p99 <= 250 ms), and
  webhook first attempt under load p99: X ms   (under the closed-loop dispatch load; target
  <= 250 ms), and
  dispatch/calls throughput ratio: X   (POST .../dispatch alone, bench/dispatch.py, against
  POST /v1/calls in phases interleaved with the dispatch rounds; target >= 0.5), and
the CPU per request of the floor and of intake on each side, how long serve waited for a
CPU while cores sat idle, and the hypervisor's steal (bench/cpu.py). Its last line
is `calls/floor throughput ratio: X`.

With --scale it also seeds a second agency ten times the size in the same database, and
compares call intake for the two in interleaved phases (small, big, big, small, ...). Runs
minutes apart differ by 10 % or more on a shared machine; interleaving cancels that drift,
so the figure measures the agency's size alone.

With --coverage it measures the CIT program's reports instead (docs/reports.md) on a year
of data. It seeds one agency in bulk: 8-hour watches over the 366 local days before today
(bench/roster_year.py: --officers officers, officers/20 co-responders, 50 districts), and
--calls calls over the same days, each recommended, most dispatched and cleared
(bench/call_year.py). Then, over HTTP with the agency's admin key, it times one warm-up and
--runs runs of each of GET /v1/coverage over those days (all 50 districts, and D23 alone)
and GET /v1/reports/outcomes (ungrouped, and by month), checks every answer against what
was seeded, and prints a line per report:
  coverage report, 366 days x 50 districts, 2000 officers: median M ms, min N ms (target ...)
  coverage report, 366 days, one district, 2000 officers: median M ms, min N ms
  outcome report, 366 days, 50000 calls: median M ms, min N ms
  outcome report by month, 366 days, 50000 calls: median M ms, min N ms
The all-district coverage report's target is 1 s at 2,000 officers and 5 s at 20,000.

With --database-url postgresql://USER@HOST:PORT/DB it runs on that server instead of the
embedded one, as a deployment with CIT_DATABASE_URL does, in a database it creates there
and drops at the end (bench/server.py); PostgreSQL's CPU is measured when the server is on
this machine.

With --slow-receiver it measures webhook isolation instead (bench/slow_receiver.py): two
agencies take --rate-each calls/s each; agency B's receiver answers in 8 s; it prints agency
A's event-to-first-attempt latency against its target, p99 <= 250 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.db.migrate import upgrade
from bench import cpu, reports, stream
from bench import dispatch as dispatching
from bench.eido import import_step, largest_document_validation
from bench.intake import call_body, compare_limits, compare_sizes, intake_step, percentiles
from bench.loadgen import Connection, Stats, Step, closed_loop, open_loop
from bench.receiver import Receiver
from bench.seed import Seeded, seed
from bench.server import BenchServer, bench_server, describe, postmaster_pid
from bench.service import serving, wait_ready
from bench.tracing import service_tracing
from bench.units import read_model_line

# Target of EIDO import throughput against call intake's.
EIDO_TARGET_RATIO = 0.5


async def _run(
    args: argparse.Namespace,
    data_dir: Path,
    seeded: Seeded,
    big: Seeded | None,
    port: int,
    serve: subprocess.Popen[bytes],
) -> None:
    receiver = Receiver()
    hook_url = receiver.start()
    try:
        await wait_ready(port, serve)
        meter = cpu.Meter(serve.pid, await postmaster_pid(args.server, data_dir))
        await _drive(args, seeded, big, port, hook_url, receiver, data_dir, meter)
    finally:
        receiver.stop()


async def _drive(
    args: argparse.Namespace,
    seeded: Seeded,
    big: Seeded | None,
    port: int,
    hook_url: str,
    receiver: Receiver,
    data_dir: Path,
    meter: cpu.Meter,
) -> None:
    auth = {"Authorization": f"Bearer {seeded.api_key}"}
    rng = random.Random(7)

    def make() -> Connection:
        return Connection("127.0.0.1", port, auth)

    setup = make()
    status, _ = await setup.request(
        "POST", "/v1/webhooks", {"url": hook_url, "events": ["unit.assigned"]}
    )
    assert status == 201, status
    await setup.close()

    async def readyz(conn: Connection, stats: Stats) -> None:
        started = time.perf_counter()
        status, _ = await conn.request("GET", "/readyz")
        stats.add(status, started)

    create_call = intake_step(rng, seeded)
    c, s = args.concurrency, args.seconds
    await closed_loop(make, create_call, concurrency=c, seconds=2)
    await closed_loop(make, readyz, concurrency=c, seconds=2)
    # The floor and intake in interleaved halves (floor, calls, calls, floor): the floor
    # measured 1,100 to 2,600/s in runs minutes apart on this machine; interleaving
    # cancels that drift from their ratio.
    halves: dict[Step, list[Stats]] = {readyz: [], create_call: []}
    used = {readyz: cpu.PerRequest(), create_call: cpu.PerRequest()}
    for step in (readyz, create_call, create_call, readyz):
        before = meter.read()
        halves[step].append(await closed_loop(make, step, concurrency=c, seconds=s / 2))
        used[step].add(before, meter.read(), len(halves[step][-1].latencies_ms))
    floor, calls = Stats.merged(halves[readyz]), Stats.merged(halves[create_call])
    # EIDO import beside it, at the same concurrency: each document a new incident.
    import_incident = import_step(rng, seeded)
    # The service builds the EIDO validators at start-up, in a thread; one import alone
    # first, so that none of the warm-up's concurrent imports waits for them.
    first = make()
    await import_incident(first, Stats())
    await first.close()
    await closed_loop(make, import_incident, concurrency=c, seconds=2)
    eido = await closed_loop(make, import_incident, concurrency=c, seconds=s)
    # Right after the intake phases, on the same young database, before dispatch load.
    scale = [] if big is None else await compare_sizes(args, seeded, big, port)
    shared_limits = await compare_limits(args, data_dir, seeded, port, create_call)

    async def send_call(conn: Connection) -> int:
        return (await conn.request("POST", "/v1/calls", call_body(rng, seeded)))[0]

    # Each phase measures its own steady state: let the saturating phase's aftermath
    # (autovacuum, checkpoint writes) settle, and warm up at the rate before measuring.
    await asyncio.sleep(3)
    await open_loop(make, send_call, rate=args.rate, seconds=2)
    vacuumed_before = await cpu.autovacuum_runs(args.database_url)
    stalled_before = cpu.io_stalled_ms()
    async with cpu.Steal() as stolen:
        paced = await open_loop(make, send_call, rate=args.rate, seconds=s)
    stalled_after = cpu.io_stalled_ms()
    vacuumed_after = await cpu.autovacuum_runs(args.database_url)

    # The floor at the same rate: what the lightest request costs in latency when the machine
    # idles between requests. Its p50 was 1.9 ms here (client to answer 1.6 ms, the rest the
    # timetable's own lateness), against 0.4 ms of CPU per request under saturation; a bare
    # round trip to PostgreSQL paced alike took 0.2-0.3 ms.
    async def send_ready(conn: Connection) -> int:
        return (await conn.request("GET", "/readyz"))[0]

    await open_loop(make, send_ready, rate=args.rate, seconds=2)
    paced_floor = await open_loop(make, send_ready, rate=args.rate, seconds=s / 2)

    # Overload: far more clients than the instance runs at once (CIT_MAX_IN_FLIGHT). The
    # excess is shed with 503 at once; clients honour its Retry-After (1 s) before retrying.
    await asyncio.sleep(3)
    accepted, shed = Stats(), Stats()

    async def overload_call(conn: Connection, _: Stats) -> None:
        started = time.perf_counter()
        status, _body = await conn.request("POST", "/v1/calls", call_body(rng, seeded))
        (shed if status == 503 else accepted).add(status, started)
        if status == 503:
            await asyncio.sleep(1)

    overload = await closed_loop(make, overload_call, concurrency=args.overload_clients, seconds=s)
    accepted.seconds = shed.seconds = overload.seconds

    # Dispatch alone, timed apart from the calls it needs and the clears that free its
    # units (bench/dispatch.py); the webhook receiver counts throughout.
    await asyncio.sleep(3)
    co_responders, officers = await dispatching.free_units(args.database_url, seeded.agency_id)
    dispatch, beside = await dispatching.measure(
        make,
        lambda: call_body(rng, seeded),
        dispatching.unit_pairs(co_responders, officers),
        intake=create_call,
        concurrency=c,
        seconds=s,
    )
    intake_beside = Stats.merged(beside)
    await asyncio.sleep(3)  # let the last deliveries land
    saturated_delays = receiver.take()

    async def paced_cycle(conn: Connection) -> int:
        """Create a call, dispatch its recommendation, clear it."""
        status, body = await conn.request("POST", "/v1/calls", call_body(rng, seeded))
        if status != 201:
            return status
        call_id = json.loads(body)["id"]
        status, _ = await conn.request("POST", f"/v1/calls/{call_id}/dispatch")
        await conn.request("POST", f"/v1/calls/{call_id}/clear", {"disposition": "bench"})
        return status

    await open_loop(make, paced_cycle, rate=args.dispatch_rate, seconds=s)
    await asyncio.sleep(2)
    paced_delays = receiver.take()

    # Live feeds: open streams reading unit.assigned while calls are dispatched at the rate.
    feeds = await stream.measure(
        seeded,
        port,
        lambda: call_body(rng, seeded),
        streams=args.streams,
        rate=args.dispatch_rate,
        seconds=s,
    )

    print(f"\nconcurrency {c}, {s:.0f} s per phase, service log level {args.log_level}")
    print(floor.line("GET /readyz (floor)"))
    print(calls.line("POST /v1/calls"))
    print(
        "  (interleaved halves: floor, calls, calls, floor at "
        + ", ".join(
            f"{half.throughput:.0f}/s"
            for half in (halves[readyz][0], *halves[create_call], halves[readyz][1])
        )
        + ")"
    )
    print(
        "CPU per request in those phases, then the time per request serve was ready to run"
        " but waited for a CPU, the cores sat idle and the hypervisor took them (/proc; serve's"
        " own process, not its relay child):"
    )
    print(used[readyz].line("GET /readyz (floor)"))
    print(used[create_call].line("POST /v1/calls"))
    print(eido.line("POST /v1/eido"))
    print(paced.line(f"POST /v1/calls open loop {args.rate:.0f}/s"))
    if stalled_before is not None and stalled_after is not None:
        print(
            f"  (all tasks waiting on I/O stalled for {stalled_after - stalled_before:.0f} ms"
            f" of its {s:.0f} s: /proc/pressure/io)"
        )
    print(f"  ({cpu.autovacuum_line(vacuumed_before, vacuumed_after)} in those {s:.0f} s)")
    print(f"  ({stolen.line(s)})")
    print(paced_floor.line(f"GET /readyz open loop {args.rate:.0f}/s"))
    print(accepted.line(f"POST /v1/calls, {args.overload_clients} clients, accepted"))
    print(shed.line(f"POST /v1/calls, {args.overload_clients} clients, shed"))
    print(dispatch.line("POST /v1/calls/{id}/dispatch"))
    print(f"  (timed alone: batches of {dispatching.BATCH} calls, each with units of its own)")
    print(intake_beside.line("POST /v1/calls beside dispatch"))
    print(
        "  (interleaved with the dispatch rounds: "
        + ", ".join(f"{phase.throughput:.0f}/s" for phase in beside)
        + ")"
    )
    print(
        "  dispatch against the intake phase above instead, minutes earlier:"
        f" {dispatch.throughput / calls.throughput:.3f}"
    )
    relay = "separate worker process" if args.worker else "serve's relay child process"
    print(f"webhook, event to first attempt ({relay}):")
    print(f"  {'under the closed-loop dispatch load':<40} {percentiles(saturated_delays)}")
    print(
        f"  {f'at {args.dispatch_rate:.0f} dispatches/s (open loop)':<40} "
        f"{percentiles(paced_delays)}"
    )
    ratio = eido.throughput / calls.throughput
    print(f"eido/calls throughput ratio: {ratio:.3f}")
    print(
        f"  POST /v1/eido {eido.throughput:.1f}/s, POST /v1/calls {calls.throughput:.1f}/s,"
        f" both closed loop at concurrency {c}, each import a new incident"
        f" (target >= {EIDO_TARGET_RATIO}: {'met' if ratio >= EIDO_TARGET_RATIO else 'MISSED'})"
    )
    print(largest_document_validation(seeded))
    # Last, so that its 20,000-officer agency (seeded now without --scale) weighs on no
    # other phase.
    units = await read_model_line(args.database_url, big, port)
    stream.print_latency(feeds)
    for line in scale + shared_limits:
        print(line)
    print(f"dispatch/calls throughput ratio: {dispatch.throughput / intake_beside.throughput:.3f}")
    under_load = Stats(latencies_ms=saturated_delays).percentile(99)  # nan: none delivered
    print(f"webhook first attempt under load p99: {under_load:.1f} ms")
    print(units)
    print(f"calls/floor throughput ratio: {calls.throughput / floor.throughput:.3f}")


def _slow_receiver(args: argparse.Namespace, url: str, data_dir: Path) -> None:
    """The --slow-receiver mode: two agencies, one with a receiver answering in 8 s."""
    from bench.slow_receiver import run

    fast, slow = (asyncio.run(seed(url, officers=200, co_responders=20)) for _ in range(2))
    with serving(args, data_dir) as (port, serve):
        lines = asyncio.run(run(args, fast, slow, port, serve))
    for line in lines:
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--officers", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--log-level", default="WARNING")
    parser.add_argument(
        "--overload-clients", type=int, default=200, help="clients of the overload phase"
    )
    parser.add_argument(
        "--dispatch-rate", type=float, default=10, help="paced dispatches/s for webhook latency"
    )
    parser.add_argument(
        "--streams", type=int, default=100, help="open streams for event-to-stream latency"
    )
    parser.add_argument(
        "--worker", action="store_true", help="run the relay as `cit-dispatch worker`"
    )
    parser.add_argument(
        "--scale",
        action="store_true",
        help="also seed an agency ten times the size and compare call intake, interleaved",
    )
    parser.add_argument("--scale-seconds", type=float, default=8)
    parser.add_argument("--scale-rounds", type=int, default=3)
    parser.add_argument(
        "--limits-seconds", type=float, default=3, help="each phase of the shared-limits cost"
    )
    parser.add_argument("--limits-rounds", type=int, default=10)
    parser.add_argument(
        "--coverage",
        action="store_true",
        help="instead, seed a year of roster and calls and time the program's reports",
    )
    parser.add_argument("--calls", type=int, default=50000, help="--coverage: calls to seed")
    parser.add_argument("--days", type=int, default=366, help="--coverage: days to seed")
    parser.add_argument("--runs", type=int, default=5, help="--coverage: timed runs per report")
    parser.add_argument(
        "--slow-receiver",
        action="store_true",
        help="instead, time agency A's webhooks beside agency B's 8-second receiver",
    )
    parser.add_argument(
        "--rate-each", type=float, default=10, help="--slow-receiver: calls/s per agency"
    )
    parser.add_argument(
        "--database-url",
        dest="external_url",
        help="run on this PostgreSQL server instead of the embedded one, in a database of"
        " the bench's own, dropped at the end (the URL's user must be able to create one)",
    )
    args = parser.parse_args()
    if args.coverage and not 0 < args.days <= 366:
        parser.error("--days: a report covers at most 366 days")
    data_dir = Path(tempfile.mkdtemp(prefix="cit-bench-"))
    # Shared with the service, which joins the same server; an embedded one is deleted when
    # the bench ends, an external one's database dropped.
    with bench_server(data_dir, args.external_url) as server:
        _bench(args, server, data_dir)


def _bench(args: argparse.Namespace, server: BenchServer, data_dir: Path) -> None:
    url = server.url
    upgrade(url)
    args.database_url = url  # for phases that seed during the run (bench/units.py)
    args.server = server
    print(asyncio.run(describe(server)))
    # The service gets this environment: its OTEL_* variables decide whether it traces.
    print(service_tracing())
    if args.coverage:
        reports.run(args, url, data_dir)
        return
    if args.slow_receiver:
        _slow_receiver(args, url, data_dir)
        return
    sizes = [args.officers, args.officers * 10] if args.scale else [args.officers]
    agencies = []
    for officers in sizes:
        agencies.append(asyncio.run(seed(url, officers=officers, co_responders=officers // 10)))
        print(
            f"seeded 50 districts, {officers} officers (a quarter CIT), "
            f"{officers // 10} co-responders, shifts for 3 days in {agencies[-1].seconds:.1f} s"
        )
    seeded, big = agencies[0], (agencies[1] if args.scale else None)
    with serving(args, data_dir) as (port, serve):
        asyncio.run(_run(args, data_dir, seeded, big, port, serve))


if __name__ == "__main__":
    main()
