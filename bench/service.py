"""The service under benchmark: `serve` (and, with --worker, `cit-dispatch worker`) started
as the benchmarks' child processes on a free loopback port, on the bench's server
(bench/server.py), and stopped with SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from bench import limits as shared_limits
from bench.loadgen import Connection

# The shared limits off or on, in an instance of its own (bench/limits.py).
Limits = Literal["off", "on"]
# Those two instances' database pools.
LIMITS_POOL_SIZE = 12


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def wait_ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    """Wait for GET /readyz to answer 200; exit if the service exits or a minute passes."""
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


def _start(
    args: argparse.Namespace, data_dir: Path, port: int, *, limits: Limits | None = None
) -> list[subprocess.Popen[bytes]]:
    """Start the service (and, with --worker, the relay as its own process).

    limits: a second instance, for the shared limits' cost (bench/limits.py): no relay,
    and the default per-key rate limit when limits is "on", none when "off".
    """
    env = {
        **os.environ,
        "CIT_DATA_DIR": str(data_dir),
        "CIT_LOG_LEVEL": args.log_level,
        "CIT_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
        "CIT_RUN_RELAY": "false" if args.worker else "true",
        # One key drives the whole load: the per-key limit would cap it at 100/s.
        "CIT_RATE_LIMIT_PER_MINUTE": "0",
    }
    if getattr(args, "streams", None) is not None:
        # The one key opens every stream of the live-feed phase (bench/stream.py).
        env["CIT_MAX_STREAMS_PER_KEY"] = str(args.streams)
    if limits is not None:
        env["CIT_RUN_RELAY"] = "false"
        # Three instances are up (the bench's own holds its warm pool): at the default 32
        # each (and 8 more at a peak), the embedded server's 100 connections ran out, and
        # hundreds of calls were refused with 503 in the comparison. Both sides alike.
        env["CIT_DB_POOL_SIZE"] = str(LIMITS_POOL_SIZE)
        if limits == "on":
            env["CIT_RATE_LIMIT_PER_MINUTE"] = str(shared_limits.RATE_LIMIT_PER_MINUTE)
    env.pop("CIT_DATABASE_URL", None)
    env.update(args.server.env)  # an external server's URL and data key (bench/server.py)
    log = (data_dir / ("service.log" if limits is None else f"limits-{limits}.log")).open("wb")
    commands = [["serve", "--no-migrate", "--port", str(port)]]
    if args.worker and limits is None:
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


@contextmanager
def serving(
    args: argparse.Namespace, data_dir: Path, *, limits: Limits | None = None
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """The service (and its worker) on a free port for the block; stopped with SIGTERM."""
    port = free_port()
    procs = _start(args, data_dir, port, limits=limits)
    try:
        yield port, procs[0]
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=30)
