"""Event-to-stream latency: many open `GET /v1/stream` feeds while calls are dispatched.

Each feed is a raw keep-alive socket reading the SSE answer (chunked) with
`?types=unit.assigned`. Calls are taken and dispatched on an open-loop timetable; a
dispatch's latency to a feed is the time the feed read the `unit.assigned` frame minus the
time the dispatch request was sent (the event commits before the dispatch is answered, so
this is the whole way from the console's click to every other console's screen). Every
feed must receive every unit assigned, once.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.loadgen import Connection, Stats, open_loop
from bench.seed import Seeded

# Streams opened at once, below the service's CIT_MAX_IN_FLIGHT.
OPENING = 32

Body = Callable[[], dict[str, Any]]


@dataclass
class Feed:
    """One open stream: the frames it read, as (call id, responder id, read at)."""

    host: str
    port: int
    api_key: str
    frames: list[tuple[str, str, float]] = field(default_factory=list)
    error: str | None = None
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None

    async def run(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(
            (
                f"GET /v1/stream?types=unit.assigned HTTP/1.1\r\nHost: {self.host}\r\n"
                f"Authorization: Bearer {self.api_key}\r\nAccept: text/event-stream\r\n\r\n"
            ).encode()
        )
        status = int((await self.reader.readline()).split()[1])
        chunked, length = False, 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"content-length":
                length = int(value)
        if status != 200 or not chunked:
            answer = await self.reader.readexactly(length)
            self.error = f"{status} {answer[:500]!r}"
            self.opened.set()
            return
        pending = b""
        while True:
            line = await self.reader.readline()
            size = int(line.split(b";")[0], 16) if line.strip() else 0
            if size == 0:
                return
            pending += await self.reader.readexactly(size)
            await self.reader.readexactly(2)
            read_at = time.perf_counter()
            *frames, pending = pending.split(b"\n\n")
            for frame in frames:
                self._frame(frame, read_at)

    def _frame(self, frame: bytes, read_at: float) -> None:
        self.opened.set()  # the first frame, an `id:` alone, says the stream has started
        for line in frame.split(b"\n"):
            if line.startswith(b"data:"):
                data = json.loads(line[5:])["data"]
                self.frames.append((data["call_id"], data["responder_id"], read_at))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


@dataclass
class StreamLatency:
    streams: int
    rate: float
    dispatches: Stats
    latencies_ms: list[float]
    expected: int  # unit.assigned events each feed should have read
    wrong: int  # feeds that did not read each unit assigned exactly once

    def percentile(self, q: float) -> float:
        return Stats(latencies_ms=self.latencies_ms).percentile(q)


async def measure(
    seeded: Seeded,
    port: int,
    body: Body,
    *,
    streams: int,
    rate: float,
    seconds: float,
    settle: float = 2.0,
) -> StreamLatency:
    """Open the feeds, dispatch at `rate` for `seconds`, then compare what each feed read."""
    feeds = [Feed("127.0.0.1", port, seeded.api_key) for _ in range(streams)]
    tasks: list[asyncio.Task[None]] = []
    try:
        # A stream counts against CIT_MAX_IN_FLIGHT (64) until its answer begins: open them
        # OPENING at a time, as consoles coming on shift would, not all in one burst.
        for first in range(0, streams, OPENING):
            wave = feeds[first : first + OPENING]
            tasks += [asyncio.create_task(feed.run()) for feed in wave]
            opening = asyncio.gather(*(feed.opened.wait() for feed in wave))
            await asyncio.wait_for(opening, timeout=30)
        refused = [feed.error for feed in feeds if feed.error is not None]
        if refused:
            raise SystemExit(f"GET /v1/stream: {len(refused)} refused, first {refused[0]}")
        sent: dict[str, float] = {}
        assigned: set[tuple[str, str]] = set()

        def make() -> Connection:
            return Connection("127.0.0.1", port, {"Authorization": f"Bearer {seeded.api_key}"})

        async def cycle(conn: Connection) -> int:
            status, answer = await conn.request("POST", "/v1/calls", body())
            if status != 201:
                raise SystemExit(f"POST /v1/calls: {status} {answer[:500]!r}")
            call_id = json.loads(answer)["id"]
            sent[call_id] = time.perf_counter()
            status, answer = await conn.request("POST", f"/v1/calls/{call_id}/dispatch")
            if status == 200:
                for unit in json.loads(answer)["assignments"]:
                    assigned.add((call_id, unit["responder_id"]))
            await conn.request("POST", f"/v1/calls/{call_id}/clear", {"disposition": "bench"})
            return status

        dispatches = await open_loop(make, cycle, rate=rate, seconds=seconds)
        await asyncio.sleep(settle)  # the last frames arrive
        for task in tasks:
            if task.done():
                task.result()  # a feed that ended early, or failed, stops the bench
    finally:
        for feed in feeds:
            feed.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    latencies = []
    wrong = 0
    for feed in feeds:
        # A feed may begin with events committed a moment before it opened: not ours.
        ours = [(c, r, at) for c, r, at in feed.frames if c in sent]
        if sorted((c, r) for c, r, _ in ours) != sorted(assigned):
            wrong += 1
        latencies += [(at - sent[c]) * 1000 for c, _, at in ours]
    return StreamLatency(streams, rate, dispatches, latencies, len(assigned), wrong)


# Targets of event-to-stream latency.
STREAM_TARGET_P50_MS, STREAM_TARGET_P99_MS = 50, 250


def print_latency(feeds: StreamLatency) -> None:
    """The benchmark's lines for the feeds; exits when a feed missed or repeated a unit."""
    if feeds.wrong:
        raise SystemExit(
            f"GET /v1/stream: {feeds.wrong} of {feeds.streams} streams did not read each of"
            f" the {feeds.expected} units assigned exactly once"
        )
    p50, p99 = feeds.percentile(50), feeds.percentile(99)
    met = p50 <= STREAM_TARGET_P50_MS and p99 <= STREAM_TARGET_P99_MS
    print(
        f"event-to-stream latency at {feeds.streams} streams, {feeds.rate:.0f} dispatches/s:"
        f" p50 {p50:.1f} ms, p99 {p99:.1f} ms"
    )
    codes = ", ".join(f"{code}: {n}" for code, n in sorted(feeds.dispatches.statuses.items()))
    print(
        f"  from sending the dispatch to reading unit.assigned; {feeds.expected} units"
        f" assigned ({codes}), each read once by all {feeds.streams} streams"
        f" (n={len(feeds.latencies_ms)}; targets p50 <= {STREAM_TARGET_P50_MS} ms,"
        f" p99 <= {STREAM_TARGET_P99_MS} ms: {'met' if met else 'MISSED'})"
    )
