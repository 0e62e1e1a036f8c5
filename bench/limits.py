"""What the limits shared by every instance cost call intake (SPEC §9).

Two fresh `serve` processes on the one database, alike (no relay) but for the limit: one
with CIT_RATE_LIMIT_PER_MINUTE=0 (no rate limit) and one with the default 6,000 a minute
per key, whose tokens come from the keys' buckets in the database. (The "off" side was
once the bench's own instance, which had run every phase before, with the relay beside
it: the limits came out 6 to 12 % *faster*.) Call intake runs against each in
interleaved phases (off, on, on, off, ...), each client with its own key as consoles
have. The cost is the median over the pairs of phases side by side in time (off then on,
or on then off) of what the limits took from that pair: a machine that drifts across the
run moves both phases of a pair alike, and one disturbed pair does not move the median
(the means of 4 phases of 5 s each way spread by 60 to 130 calls/s between runs, more than
the 30 to 40 calls/s measured between the sides). The failed-authentication lockout costs
a request nothing either way: it is checked against each instance's copy of the counts.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from itertools import count
from statistics import median

from bench.loadgen import Connection, Stats, Step, closed_loop
from bench.seed import Seeded

RATE_LIMIT_PER_MINUTE = 6000  # the default
TARGET_COST_PCT = 5.0


async def issue_keys(port: int, seeded: Seeded, n: int) -> list[str]:
    """n dispatcher keys for the seeded agency, made with its admin key."""
    admin = Connection("127.0.0.1", port, {"Authorization": f"Bearer {seeded.api_key}"})
    keys = []
    try:
        for _ in range(n):
            status, body = await admin.request("POST", "/v1/api-keys", {"role": "dispatcher"})
            assert status == 201, (status, body)
            keys.append(json.loads(body)["key"])
    finally:
        await admin.close()
    return keys


async def compare(
    args: argparse.Namespace, keys: list[str], step: Step, *, port_off: int, port_on: int
) -> list[str]:
    """Call intake without and with the shared limits, interleaved; the report's lines."""
    runs: dict[bool, list[Stats]] = {False: [], True: []}
    pair_costs: list[float] = []
    refused = 0
    # The second instance has just started: both warm up before any phase counts.
    for port in (port_off, port_on, port_off, port_on):
        await closed_loop(_clients(port, keys), step, concurrency=args.concurrency, seconds=2)
    for turn in range(args.limits_rounds * 2):
        limited = bool((turn + turn // 2) % 2)
        port = port_on if limited else port_off
        await closed_loop(_clients(port, keys), step, concurrency=args.concurrency, seconds=1)
        stats = await closed_loop(
            _clients(port, keys), step, concurrency=args.concurrency, seconds=args.limits_seconds
        )
        refused += stats.statuses.get(429, 0)
        runs[limited].append(stats)
        if turn % 2:  # a pair done: this phase and the one before it, one of each side
            off, on = runs[False][-1].throughput, runs[True][-1].throughput
            pair_costs.append((1 - on / off) * 100 if off else 0.0)
    means = {k: sum(r.throughput for r in v) / len(v) for k, v in runs.items()}
    cost = median(pair_costs)
    verdict = "met" if cost <= TARGET_COST_PCT else "MISSED"
    lines = [
        f"call intake, shared limits off and on, {args.limits_rounds} phases of"
        f" {args.limits_seconds:.0f} s each, {len(keys)} keys:"
    ]
    for limited, label in ((False, "without shared limits"), (True, "with shared limits")):
        phases = " ".join(f"{r.throughput:.0f}" for r in runs[limited])
        # Anything but a call taken or a 429 (a 503 when the instances together run the
        # database out of connections, say) would make the comparison say nothing.
        failed = sum(n for r in runs[limited] for s, n in r.statuses.items() if s not in (201, 429))
        lines.append(
            f"  {label:<24} {means[limited]:8.1f} calls/s   (phases: {phases}; {failed} failed)"
        )
    lines.append(
        "  cost in each pair of phases side by side (%): "
        + " ".join(f"{c:.1f}" for c in pair_costs)
        + f"; of the means: {(1 - means[True] / means[False]) * 100:.1f}"
    )
    lines.append(
        f"shared limits cost: {cost:.1f} % (the pairs' median) of intake throughput at"
        f" {RATE_LIMIT_PER_MINUTE}/min per key ({refused} refused with 429;"
        f" target <= {TARGET_COST_PCT:.0f} %: {verdict})"
    )
    return lines


def _clients(port: int, keys: list[str]) -> Callable[[], Connection]:
    """Each client connection with a key of its own, in turn."""
    turn = count()

    def make() -> Connection:
        key = keys[next(turn) % len(keys)]
        return Connection("127.0.0.1", port, {"Authorization": f"Bearer {key}"})

    return make
