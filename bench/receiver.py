"""The benchmark's webhook receiver, in a process of its own.

It records, for each delivery, how long after its event it arrived. On a thread of the
load generator's process it shared the interpreter lock with 32 busy clients: a delivery
waited for the lock before it was read, and that wait was counted against the relay. Its
own process has its own interpreter (on this 2-core machine it still shares the CPUs, as a
real receiver beside the service would).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """The body of the next HTTP/1.1 request on a receiver's connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return await reader.readexactly(length)


async def answer_each(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    received: Callable[[bytes], Awaitable[None]],
) -> None:
    """Serve one connection: for each request, await received(body), then answer 204."""
    try:
        while True:
            await received(await read_request(reader))
            writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


class Receiver:
    """start() gives the URL to subscribe; take() the delays (ms) recorded since the last
    take(), in the order deliveries came. The receiver runs as `python -m bench.receiver`,
    and answers `take` lines on its stdin with a JSON line on its stdout."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> str:
        """Start the receiver and wait for its URL (blocking: the benchmark's set-up)."""
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.receiver"],
            cwd=Path(__file__).resolve().parents[1],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        url = self._process.stdout.readline()
        if not url:
            raise SystemExit("the webhook receiver did not start")
        return url.strip()

    def take(self) -> list[float]:
        assert self._process is not None, "start() first"
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._process.stdin.write("take\n")
        self._process.stdin.flush()
        delays: list[float] = json.loads(self._process.stdout.readline())
        return delays

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=5)


def _serve() -> None:
    delays: list[float] = []

    async def record(body: bytes) -> None:
        event_at = datetime.fromisoformat(json.loads(body)["timestamp"]).timestamp()
        delays.append((time.time() - event_at) * 1000)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await answer_each(reader, writer, record)

    def answer() -> None:
        # The loop's thread only appends: take the first n, then drop those n.
        for line in sys.stdin:
            if line.strip() != "take":
                continue
            taken = delays[:]
            del delays[: len(taken)]
            print(json.dumps(taken), flush=True)
        os._exit(0)  # stdin closed: the benchmark has ended, however it ended

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        print(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook", flush=True)
        threading.Thread(target=answer, daemon=True).start()
        await asyncio.Event().wait()

    asyncio.run(main())


if __name__ == "__main__":
    _serve()
