"""Call intake load: the varied crisis calls the benchmark posts, and intake compared across
agency sizes (--scale) and with the shared limits on (bench/limits.py)."""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path
from typing import Any

from bench import limits
from bench.loadgen import Connection, Stats, Step, closed_loop
from bench.seed import CELL, Seeded
from bench.service import serving, wait_ready

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


def percentiles(values: list[float]) -> str:
    """p50 and p99 of latencies in ms, with their count."""
    if not values:
        return "no deliveries"
    stats = Stats(latencies_ms=values)
    p50, p99 = stats.percentile(50), stats.percentile(99)
    return f"p50 {p50:7.2f} ms   p99 {p99:7.2f} ms   (n={len(values)})"


def intake_step(rng: random.Random, seeded: Seeded) -> Step:
    """A closed-loop step: post one varied call for the seeded agency."""

    async def create_call(conn: Connection, stats: Stats) -> None:
        started = time.perf_counter()
        status, _ = await conn.request("POST", "/v1/calls", call_body(rng, seeded))
        stats.add(status, started)

    return create_call


async def compare_sizes(
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

        create_call = intake_step(rng, seeded)
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


async def compare_limits(
    args: argparse.Namespace, data_dir: Path, seeded: Seeded, port: int, create_call: Step
) -> list[str]:
    """Call intake on two fresh instances alike but for the shared limits, off and on,
    interleaved (bench/limits.py); the report's lines. The bench's own instance (port)
    only issues the keys: it has run every phase before and has the relay beside it."""
    keys = await limits.issue_keys(port, seeded, args.concurrency)
    with (
        serving(args, data_dir, limits="off") as (port_off, off),
        serving(args, data_dir, limits="on") as (port_on, on),
    ):
        await wait_ready(port_off, off)
        await wait_ready(port_on, on)
        return await limits.compare(args, keys, create_call, port_off=port_off, port_on=port_on)
