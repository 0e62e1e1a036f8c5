"""`bench/calls.py --slow-receiver`: one agency's slow webhook receiver must not delay
another agency's units.

Two agencies on one service (relay inside `serve`, as by default). Agency B's CAD
receiver answers every webhook after 8 s; agency A's answers at once. Both take calls at
a steady rate, each call a `call.created` webhook, so B's backlog grows the whole time.
The line printed is A's event-to-first-attempt latency, against its target: p99 <= 250 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import subprocess
import time
from collections.abc import Awaitable, Callable

from bench.intake import call_body, percentiles
from bench.loadgen import Connection, Stats, open_loop
from bench.receiver import Receiver, answer_each
from bench.seed import Seeded
from bench.service import wait_ready

SLOW_SECONDS = 8.0
TARGET_P99_MS = 250.0


class SlowReceiver:
    """Answers each webhook after SLOW_SECONDS; counts what it was sent."""

    def __init__(self) -> None:
        self.received = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/slow"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await answer_each(reader, writer, self._slowly)

    async def _slowly(self, _: bytes) -> None:
        self.received += 1
        await asyncio.sleep(SLOW_SECONDS)


async def run(
    args: argparse.Namespace,
    fast: Seeded,
    slow: Seeded,
    port: int,
    serve: subprocess.Popen[bytes],
) -> list[str]:
    """Drive both agencies; return the report's lines."""
    receiver, laggard = Receiver(), SlowReceiver()
    fast_url, slow_url = receiver.start(), await laggard.start()
    await wait_ready(port, serve)
    rng = random.Random(5)

    def client(seeded: Seeded) -> Callable[[], Connection]:
        auth = {"Authorization": f"Bearer {seeded.api_key}"}
        return lambda: Connection("127.0.0.1", port, auth)

    for seeded, url in ((fast, fast_url), (slow, slow_url)):
        setup = client(seeded)()
        status, _ = await setup.request(
            "POST", "/v1/webhooks", {"url": url, "events": ["call.created"]}
        )
        assert status == 201, status
        await setup.close()

    def sender(seeded: Seeded) -> Callable[[Connection], Awaitable[int]]:
        async def send(conn: Connection) -> int:
            return (await conn.request("POST", "/v1/calls", call_body(rng, seeded)))[0]

        return send

    async def both(seconds: float) -> tuple[Stats, Stats]:
        return await asyncio.gather(
            open_loop(client(fast), sender(fast), rate=args.rate_each, seconds=seconds),
            open_loop(client(slow), sender(slow), rate=args.rate_each, seconds=seconds),
        )

    await both(2)  # warm up; B's backlog starts here
    receiver.take()  # the warm-up's
    started = time.perf_counter()
    await both(args.seconds)
    await asyncio.sleep(2)  # A's last deliveries land
    elapsed = time.perf_counter() - started
    delays = receiver.take()
    receiver.stop()
    p99 = Stats(latencies_ms=delays).percentile(99)
    met = "met" if p99 <= TARGET_P99_MS else "MISSED"
    return [
        f"\ntwo agencies, {args.rate_each:.0f} calls/s each for {args.seconds:.0f} s;"
        f" agency B's receiver answers in {SLOW_SECONDS:.0f} s"
        f" (it received {laggard.received} in {elapsed:.0f} s)",
        f"webhook first attempt, agency A, beside a slow receiver: "
        f"{percentiles(delays)} (target p99 <= {TARGET_P99_MS:.0f} ms: {met})",
    ]
