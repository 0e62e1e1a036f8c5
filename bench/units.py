"""GET /v1/units, the consoles' read model: the whole agency and one district, timed.

Run alone after the dev install:
  python bench/units.py  [--officers 20000] [--runs 30] [--history-days 30]
It seeds one agency on the embedded PostgreSQL, starts the service and prints
  units read model at N officers: whole agency p50 X ms, one district p50 Y ms
(targets: <= 150 ms and <= 10 ms at 20,000 officers). bench/calls.py prints the same line,
after its other phases, on its --scale agency or on a 20,000-officer agency it seeds then.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.loadgen import Connection
from bench.seed import Seeded, seed

ONE_DISTRICT = "D23"
OFFICERS = 20000


async def _p50(conn: Connection, path: str, runs: int) -> float:
    """One warm-up, then the median of `runs` requests, each checked to be a 200 list."""
    times = []
    for n in range(runs + 1):
        started = time.perf_counter()
        status, body = await conn.request("GET", path)
        elapsed = (time.perf_counter() - started) * 1000
        if status != 200 or not json.loads(body)["items"]:
            raise SystemExit(f"GET {path}: {status} {body[:200]!r}")
        if n:
            times.append(elapsed)
    return statistics.median(times)


async def measure(agency: Seeded, port: int, *, runs: int = 30) -> str:
    """The report line for the agency, timed against the service on the port."""
    conn = Connection("127.0.0.1", port, {"Authorization": f"Bearer {agency.api_key}"})
    try:
        whole = await _p50(conn, "/v1/units", runs)
        one = await _p50(conn, f"/v1/units?district={ONE_DISTRICT}", runs)
    finally:
        await conn.close()
    return (
        f"units read model at {agency.officers} officers: "
        f"whole agency p50 {whole:.1f} ms, one district p50 {one:.1f} ms"
    )


async def read_model_line(url: str, big: Seeded | None, port: int) -> str:
    """The report line at 20,000 officers: on the --scale agency when there is one (ten
    times --officers), else on a 20,000-officer agency seeded now in the same database."""
    agency = big or await seed(url, officers=OFFICERS, co_responders=OFFICERS // 10)
    return await measure(agency, port)


def main() -> None:
    from app.db.embedded import start_embedded
    from app.db.migrate import upgrade
    from bench.server import BenchServer
    from bench.service import serving, wait_ready

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--officers", type=int, default=OFFICERS)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument(
        "--history-days",
        type=int,
        default=0,
        help="also seed a watch per responder on each of as many days before yesterday"
        " (30 days at 20,000 officers take about 2 to 3 minutes to seed)",
    )
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args()
    if args.history_days < 0:
        parser.error("--history-days: a number of days, 0 or more")
    data_dir = Path(tempfile.mkdtemp(prefix="cit-bench-units-"))
    url = start_embedded(data_dir, ephemeral=True)
    args.worker, args.server = False, BenchServer(url, external=False, env={})
    upgrade(url)
    agency = asyncio.run(
        seed(
            url,
            officers=args.officers,
            co_responders=args.officers // 10,
            history_days=args.history_days,
        )
    )
    if args.history_days:
        print(f"with {args.history_days} days of roster history before yesterday")

    async def run(port: int, serve: object) -> str:
        await wait_ready(port, serve)  # type: ignore[arg-type]
        return await measure(agency, port, runs=args.runs)

    with serving(args, data_dir) as (port, serve):
        print(asyncio.run(run(port, serve)))


if __name__ == "__main__":
    main()
