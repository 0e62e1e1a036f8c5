"""Benchmark: crisis-call intake against the GET /readyz floor, dispatch, and webhooks.

Run after the dev install:  python bench/calls.py  [--officers 20000] [--scale]
It starts the service on the embedded PostgreSQL, seeds one agency, and drives it on
loopback. Its last line is `calls/floor throughput ratio: X`.

With --scale it also seeds a second agency ten times the size in the same database, and
compares call intake for the two in interleaved phases (small, big, big, small, ...). Runs
minutes apart differ by 10 % or more on a shared machine; interleaving cancels that drift,
so the figure measures the agency's size alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.db.embedded import start_embedded
from app.db.migrate import upgrade
from bench.loadgen import Connection, Stats, Step, closed_loop, open_loop
from bench.seed import CELL, Seeded, seed

NATURES = ["MNTL", "SUICIDE", "SUICTHRT", "MTLV", "WEAPON", "welfare check"]


def call_body(rng: random.Random, seeded: Seeded) -> dict[str, Any]:
    """A varied crisis call: district, a point in it, flags, sometimes a minor."""
    code, south, west = rng.choice(seeded.districts)
    roll = rng.random()
    safety = {
        "weapon": roll < 0.12,
        "violence": 0.12 <= roll < 0.25,
        "medical_emergency": rng.random() < 0.1,
    }
    body: dict[str, Any] = {
        "district": code,
        "location": {"lat": south + rng.uniform(0, CELL), "lon": west + rng.uniform(0, CELL)},
        "nature": rng.choice(NATURES),
        "safety": safety,
    }
    if rng.random() < 0.15:
        body["subject"] = {"age": rng.randint(10, 17)}
    return body


class Receiver:
    """Loopback webhook receiver recording how long after the event each delivery came."""

    def __init__(self) -> None:
        self.delays_ms: list[float] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/hook"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = json.loads(await reader.readexactly(length))
                event_at = datetime.fromisoformat(body["timestamp"]).timestamp()
                self.delays_ms.append((time.time() - event_at) * 1000)
                writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _wait_ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit("the service exited during start-up")
        conn = Connection("127.0.0.1", port, {})
        try:
            if (await conn.request("GET", "/readyz"))[0] == 200:
                return
        except OSError:
            pass
        finally:
            await conn.close()
        await asyncio.sleep(0.1)
    raise SystemExit("the service did not become ready")


def _percentiles(values: list[float]) -> str:
    if not values:
        return "no deliveries"
    stats = Stats(latencies_ms=values)
    p50, p99 = stats.percentile(50), stats.percentile(99)
    return f"p50 {p50:7.2f} ms   p99 {p99:7.2f} ms   (n={len(values)})"


def _start(args: argparse.Namespace, data_dir: Path, port: int) -> list[subprocess.Popen[bytes]]:
    """Start the service (and, with --worker, the relay as its own process)."""
    env = {
        **os.environ,
        "CIT_DATA_DIR": str(data_dir),
        "CIT_LOG_LEVEL": args.log_level,
        "CIT_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
        "CIT_RUN_RELAY": "false" if args.worker else "true",
        # One key drives the whole load: the per-key limit would cap it at 100/s.
        "CIT_RATE_LIMIT_PER_MINUTE": "0",
    }
    env.pop("CIT_DATABASE_URL", None)
    log = (data_dir / "service.log").open("wb")
    commands = [["serve", "--no-migrate", "--port", str(port)]]
    if args.worker:
        commands.append(["worker"])
    procs = []
    for command in commands:
        extra = {"CIT_RUN_RELAY": "true"} if command == ["worker"] else {}
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "app.cli", *command],
                env={**env, **extra},
                stdout=log,
                stderr=log,
            )
        )
    log.close()
    return procs


async def _run(
    args: argparse.Namespace,
    seeded: Seeded,
    big: Seeded | None,
    port: int,
    serve: subprocess.Popen[bytes],
) -> None:
    receiver = Receiver()
    hook_url = await receiver.start()
    await _wait_ready(port, serve)
    await _drive(args, seeded, big, port, hook_url, receiver)


def _intake(rng: random.Random, seeded: Seeded) -> Step:
    """A closed-loop step: post one varied call for the seeded agency."""

    async def create_call(conn: Connection, stats: Stats) -> None:
        started = time.perf_counter()
        status, _ = await conn.request("POST", "/v1/calls", call_body(rng, seeded))
        stats.add(status, started)

    return create_call


async def _compare_sizes(
    args: argparse.Namespace, small: Seeded, big: Seeded, port: int
) -> list[str]:
    """Call intake for two agencies in alternating phases; the report's lines."""
    rng = random.Random(11)
    totals: dict[int, list[Stats]] = {small.officers: [], big.officers: []}
    for turn in range(args.scale_rounds * 2):
        # small, big, big, small, small, big, ...: each size runs as often first as second.
        seeded = (small, big)[(turn + turn // 2) % 2]
        auth = {"Authorization": f"Bearer {seeded.api_key}"}

        def make(auth: dict[str, str] = auth) -> Connection:
            return Connection("127.0.0.1", port, auth)

        create_call = _intake(rng, seeded)
        await closed_loop(make, create_call, concurrency=args.concurrency, seconds=1)
        totals[seeded.officers].append(
            await closed_loop(
                make, create_call, concurrency=args.concurrency, seconds=args.scale_seconds
            )
        )
    lines = [
        f"interleaved call intake, {args.scale_rounds} phases of {args.scale_seconds:.0f} s each:"
    ]
    means = {}
    for officers, runs in totals.items():
        means[officers] = sum(r.throughput for r in runs) / len(runs)
        phases = " ".join(f"{r.throughput:.0f}" for r in runs)
        lines.append(
            f"  {officers:>6} officers  {means[officers]:8.1f} calls/s   (phases: {phases})"
        )
    ratio = means[big.officers] / means[small.officers]
    lines.append(f"{big.officers}/{small.officers} officers calls throughput: {ratio:.3f}")
    return lines


async def _drive(
    args: argparse.Namespace,
    seeded: Seeded,
    big: Seeded | None,
    port: int,
    hook_url: str,
    receiver: Receiver,
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

    create_call = _intake(rng, seeded)
    c, s = args.concurrency, args.seconds
    await closed_loop(make, create_call, concurrency=c, seconds=2)
    await closed_loop(make, readyz, concurrency=c, seconds=2)
    floor = await closed_loop(make, readyz, concurrency=c, seconds=s)
    calls = await closed_loop(make, create_call, concurrency=c, seconds=s)
    # Right after the intake phase, on the same young database, before dispatch load.
    scale = [] if big is None else await _compare_sizes(args, seeded, big, port)

    async def send_call(conn: Connection) -> int:
        return (await conn.request("POST", "/v1/calls", call_body(rng, seeded)))[0]

    # Each phase measures its own steady state: let the saturating phase's aftermath
    # (autovacuum, checkpoint writes) settle, and warm up at the rate before measuring.
    await asyncio.sleep(3)
    await open_loop(make, send_call, rate=args.rate, seconds=2)
    paced = await open_loop(make, send_call, rate=args.rate, seconds=s)

    dispatch = Stats()

    async def dispatch_cycle(conn: Connection, cycle: Stats) -> None:
        started = time.perf_counter()
        status, body = await conn.request("POST", "/v1/calls", call_body(rng, seeded))
        cycle.add(status, started)
        if status != 201:
            return
        call_id = json.loads(body)["id"]
        started = time.perf_counter()
        status, _ = await conn.request("POST", f"/v1/calls/{call_id}/dispatch")
        dispatch.add(status, started)
        await conn.request("POST", f"/v1/calls/{call_id}/clear", {"disposition": "bench"})

    cycles = await closed_loop(make, dispatch_cycle, concurrency=c, seconds=s)
    dispatch.seconds = cycles.seconds
    await asyncio.sleep(3)  # let the last deliveries land
    saturated_delays, receiver.delays_ms = receiver.delays_ms, []

    async def paced_cycle(conn: Connection) -> int:
        await dispatch_cycle(conn, Stats())
        return 200

    await open_loop(make, paced_cycle, rate=args.dispatch_rate, seconds=s)
    await asyncio.sleep(2)

    print(f"\nconcurrency {c}, {s:.0f} s per phase, service log level {args.log_level}")
    print(floor.line("GET /readyz (floor)"))
    print(calls.line("POST /v1/calls"))
    print(paced.line(f"POST /v1/calls open loop {args.rate:.0f}/s"))
    print(dispatch.line("POST /v1/calls/{id}/dispatch"))
    relay = "separate worker process" if args.worker else "relay inside serve"
    print(f"webhook, event to first attempt ({relay}):")
    print(f"  {'under the closed-loop dispatch load':<40} {_percentiles(saturated_delays)}")
    print(
        f"  {f'at {args.dispatch_rate:.0f} dispatches/s (open loop)':<40} "
        f"{_percentiles(receiver.delays_ms)}"
    )
    for line in scale:
        print(line)
    print(f"calls/floor throughput ratio: {calls.throughput / floor.throughput:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--officers", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--log-level", default="WARNING")
    parser.add_argument(
        "--dispatch-rate", type=float, default=10, help="paced dispatches/s for webhook latency"
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
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="cit-bench-"))
    # Shared with the service, which joins the same server; deleted when the bench ends.
    url = start_embedded(data_dir, ephemeral=True)
    upgrade(url)
    sizes = [args.officers, args.officers * 10] if args.scale else [args.officers]
    agencies = []
    for officers in sizes:
        agencies.append(asyncio.run(seed(url, officers=officers, co_responders=officers // 10)))
        print(
            f"seeded 50 districts, {officers} officers (a quarter CIT), "
            f"{officers // 10} co-responders, shifts for 3 days in {agencies[-1].seconds:.1f} s"
        )
    seeded, big = agencies[0], (agencies[1] if args.scale else None)
    port = _free_port()
    procs = _start(args, data_dir, port)
    try:
        asyncio.run(_run(args, seeded, big, port, procs[0]))
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
