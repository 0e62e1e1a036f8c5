"""Where a request's CPU goes, read from /proc (Linux): the service's own process, the
database server's processes and this load generator; how long the machine's I/O stalled
meanwhile, and what autovacuum did.

The floor (GET /readyz) and call intake are bound by different things: the ratio of their
throughputs says how much more a call costs, these lines say on which side. A backend that
exits during a phase takes its CPU with it; the pool's connections live through them.

Beside the CPU used, the time the service's threads were ready to run but waited for a CPU
(/proc/<pid>/task/*/schedstat), the time the machine's cores sat idle (/proc/stat): when
both are large, the service lost time to the scheduler's placement, not to work; and the
time the hypervisor ran others on this virtual machine's cores (steal), lost to everyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
_PRESSURE_IO = Path("/proc/pressure/io")
# Pseudo-sides of Meter.read: seconds, not CPU used.
WAITING = "serve waiting"
IDLE = "idle"
STEAL = "steal"


def _stat(pid: int | str) -> list[str] | None:
    """/proc/<pid>/stat's fields after the command name (state first), or None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def _cpu(fields: list[str]) -> float:
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime


def _waiting(pid: int) -> float:
    """Seconds the process's threads have spent runnable on a run queue, not running."""
    total = 0
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return 0.0
    for task in tasks:
        try:
            total += int((task / "schedstat").read_text().split()[1])  # nanoseconds
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e9


def _cores() -> list[int]:
    """/proc/stat's first line: the ticks all cores spent in each state since boot."""
    with open("/proc/stat") as stat:
        return [int(n) for n in stat.readline().split()[1:9]]


def _idle() -> float:
    """Seconds all cores have sat idle (idle and iowait) since boot."""
    ticks = _cores()
    return (ticks[3] + ticks[4]) / _TICKS


def _stolen() -> float:
    """Seconds the hypervisor has run others on the cores since boot (steal)."""
    return _cores()[7] / _TICKS


class Steal:
    """The time the hypervisor ran others on this virtual machine's cores (steal in
    /proc/stat), sampled every 0.2 s while `async with` runs: in all, and the worst 0.2 s.

    A request whose core is taken for a few milliseconds is that much later, whatever the
    service does. In a 60 s open loop at 50 calls/s here (2026-12-01), the slowest 3 % of
    requests came almost all in the few seconds when steal rose to 5-16 % of the cores'
    time; it stayed at 0-2 % for the rest.
    """

    PERIOD = 0.2

    def __init__(self) -> None:
        self.total_ms = 0.0
        self.worst_share = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        last = _cores()
        while True:
            await asyncio.sleep(self.PERIOD)
            now = _cores()
            stolen, spent = now[7] - last[7], sum(now) - sum(last)
            self.total_ms += stolen / _TICKS * 1000
            if spent > 0:
                self.worst_share = max(self.worst_share, stolen / spent)
            last = now

    async def __aenter__(self) -> Steal:
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def line(self, seconds: float) -> str:
        cores = os.cpu_count() or 1
        return (
            f"steal, /proc/stat: the hypervisor took {self.total_ms:,.0f} ms of the cores'"
            f" {cores * seconds:.0f} s in those {seconds:.0f} s, up to"
            f" {100 * self.worst_share:.0f} % in one {self.PERIOD} s"
        )


@dataclass(frozen=True)
class Meter:
    """Reads the CPU seconds used so far by each side, per process."""

    serve_pid: int
    postmaster_pid: int | None  # None: the server is on another machine, unmeasured

    def read(self) -> dict[str, dict[int, float]]:
        sides: dict[str, dict[int, float]] = {"serve": {}, "postgres": {}, "load": {}}
        for pid, side in ((self.serve_pid, "serve"), (os.getpid(), "load")):
            fields = _stat(pid)
            if fields is not None:
                sides[side][pid] = _cpu(fields)
        for entry in Path("/proc").iterdir() if self.postmaster_pid is not None else ():
            if not entry.name.isdigit():
                continue
            fields = _stat(entry.name)
            pid = int(entry.name)
            if fields is not None and self.postmaster_pid in (pid, int(fields[1])):
                sides["postgres"][pid] = _cpu(fields)
        sides[WAITING] = {self.serve_pid: _waiting(self.serve_pid)}
        sides[IDLE] = {0: _idle()}
        sides[STEAL] = {0: _stolen()}
        return sides


@dataclass
class PerRequest:
    """CPU seconds by side over some phases, and the requests they served."""

    seconds: dict[str, float] = field(default_factory=dict)
    requests: int = 0

    def add(
        self, before: dict[str, dict[int, float]], after: dict[str, dict[int, float]], served: int
    ) -> None:
        for side, now in after.items():
            then = before.get(side, {})
            used = sum(cpu - then.get(pid, 0.0) for pid, cpu in now.items())
            self.seconds[side] = self.seconds.get(side, 0.0) + used
        self.requests += served

    def line(self, label: str) -> str:
        def us(side: str) -> str:
            per = self.seconds.get(side, 0.0) / self.requests * 1e6 if self.requests else 0.0
            return f"{per:6,.0f} µs"

        return (
            f"  {label:<22} serve {us('serve')}   PostgreSQL {us('postgres')}"
            f"   load generator {us('load')}\n"
            f"  {'':<22} serve ready but waiting for a CPU {us(WAITING)}"
            f"   cores idle {us(IDLE)}   taken by the hypervisor {us(STEAL)}"
        )


def io_stalled_ms() -> float | None:
    """Milliseconds so far during which every task waiting on I/O stalled (PSI's `full`
    line), or None where the kernel does not report it."""
    try:
        lines = _PRESSURE_IO.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("full"):
            total = dict(part.split("=") for part in line.split()[1:])["total"]
            return int(total) / 1000
    return None


async def autovacuum_runs(url: str) -> Counter[str]:
    """How many times autovacuum has vacuumed and analysed each table so far, as
    "ANALYZE event" and the like. Each run competes with the service for the cores, and an
    ANALYZE makes every connection plan its statements on that table again."""
    from app.db import dsn

    conn = await dsn.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT relname, autovacuum_count, autoanalyze_count FROM pg_stat_user_tables"
        )
    finally:
        await conn.close()
    runs: Counter[str] = Counter()
    for row in rows:
        runs[f"VACUUM {row['relname']}"] = row["autovacuum_count"]
        runs[f"ANALYZE {row['relname']}"] = row["autoanalyze_count"]
    return runs


def autovacuum_line(before: Counter[str], after: Counter[str]) -> str:
    """What autovacuum did between the two counts, in one line."""
    done = after - before
    if not done:
        return "autovacuum did not run"
    runs = ", ".join(name if n == 1 else f"{name} x{n}" for name, n in sorted(done.items()))
    return f"autovacuum ran: {runs}"
