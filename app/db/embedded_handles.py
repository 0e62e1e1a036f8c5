"""pgserver's list of the processes using the embedded server, kept free of the dead.

pgserver (0.1.x) lists the pid of each process using a data directory in
<pgdata>/.handle_pids.json, under an inter-process file lock (PostgresServer._lock): a
process adds its pid when it joins, removes it at exit (atexit), and the last one to leave
stops the server. A process that dies without running its atexit handlers (SIGKILL, the
out-of-memory killer) stays listed, and pgserver never drops a pid on its own: from then on
no process is ever the last, and the server is never stopped again (in a container,
`docker stop` ends it with SIGKILL, and the next start runs crash recovery). So each
cit-dispatch process, once it has joined, drops the pids of processes that are gone
(`drop_dead_handles`).

A pid can be reused, in a container above all, where pids are small and handed out in the
same order at every start: the pid of a `serve` killed in the container's last life may be
that of a live process now. pgserver records only pids, so each cit-dispatch process also
records, beside the list, when it started (<pgdata>/.cit_handle_starts.json: the kernel's
boot id, and each pid's start time in clock ticks since boot, field 22 of /proc/<pid>/stat,
which does not move with the wall clock). The rule for a listed pid:

- no such process, or a zombie (killed, not yet reaped): dropped;
- a process whose start time differs from the one recorded for that pid (or recorded
  under another boot): someone else has the pid now, dropped;
- any other live process: kept, recorded or not. A pid with no record is a process of a
  cit-dispatch without this module, or another program using pgserver on the same data
  directory; dropping a live user would have the server stopped under it, while keeping
  a reused pid only keeps the server running, as before. Where there is no /proc (macOS),
  nothing is recorded and a listed pid is kept while a process has it.

Pids are those of this pid namespace: a data directory is used from one host or container
at a time, as pgserver already assumes (it tells whether the server runs by its pid too).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# pgserver 0.1.x's list of the pids using a server (utils.DiskList: a JSON list of ints).
HANDLE_LIST = ".handle_pids.json"
# This module's record of when each of those processes started.
STARTS_RECORD = ".cit_handle_starts.json"


def handle_list_lock() -> Any | None:
    """The inter-process lock pgserver holds while it reads or writes a handle list, or None
    when the installed pgserver has none where 0.1.x keeps it
    (tests/test_embedded_handles.py fails then)."""
    from pgserver.postgres_server import PostgresServer

    lock = getattr(PostgresServer, "_lock", None)
    if lock is None or not (hasattr(lock, "__enter__") and hasattr(lock, "__exit__")):
        return None
    return lock


def drop_dead_handles(pgdata: Path) -> list[int]:
    """Drop from pgdata's handle list the pids of processes that are gone (the rule is in
    the module's docstring), and record this process's start; return the pids dropped.

    Call it once this process has joined the server (pgdata is initialized then, and initdb
    would refuse a directory with a file in it), and before it joins one initialized
    already (its start recorded before its pid is listed). It runs under pgserver's lock,
    as pgserver reads and writes the list, so that processes joining or leaving at the
    same time lose no one's pid.
    """
    lock = handle_list_lock()
    if lock is None:
        log.warning("pgserver's handle list lock is not where expected; not pruning it")
        return []
    try:
        with lock:
            return _drop_dead_handles_locked(pgdata)
    except OSError:
        # Housekeeping: the server this process joined serves it all the same.
        log.warning("could not prune the embedded server's handle list", exc_info=True)
        return []


def _drop_dead_handles_locked(pgdata: Path) -> list[int]:
    listed = _read_handle_list(pgdata / HANDLE_LIST)
    boot = _boot_id()
    recorded, before_boot = _read_starts(pgdata / STARTS_RECORD, boot)
    dropped: list[int] = []
    if listed is not None:
        kept: list[int] = []
        for pid in listed:
            # This process's own pid may have been listed (and recorded) for a process of a
            # container's last life: it is this process's now, which joined.
            # A process recorded during another boot ended with it: its pid, if taken now,
            # is someone else's.
            alive = pid == os.getpid() or (
                pid not in before_boot and _same_process(pid, recorded.get(pid))
            )
            (kept if alive else dropped).append(pid)
        if dropped:
            _write_json(pgdata / HANDLE_LIST, kept)
            log.info(
                "dropped processes that are gone from the embedded server's handle list",
                extra={"pids": dropped, "data_dir": str(pgdata)},
            )
    own = _start_ticks(os.getpid())
    if boot is not None and own is not None:
        starts = {pid: ticks for pid, ticks in recorded.items() if _start_ticks(pid) == ticks}
        starts[os.getpid()] = own
        _write_json(
            pgdata / STARTS_RECORD,
            {"boot_id": boot, "starts": {str(pid): ticks for pid, ticks in starts.items()}},
        )
    return dropped


def _same_process(pid: int, recorded_ticks: int | None) -> bool:
    """Whether the process now at pid can be the one that was listed (recorded_ticks: the
    start this module recorded for that pid, if it did)."""
    if not _exists(pid):
        return False
    if recorded_ticks is None:
        return True
    ticks = _start_ticks(pid)
    return ticks is None or ticks == recorded_ticks


def _exists(pid: int) -> bool:
    """Whether a process (other than a zombie) has pid."""
    stat = _proc_stat(pid)
    if stat is not None:
        return stat[0] not in ("Z", "X")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    except OSError:
        return False
    return True


def _start_ticks(pid: int) -> int | None:
    """When the process at pid started, in clock ticks since boot; None without /proc."""
    stat = _proc_stat(pid)
    if stat is None or len(stat) < 20:
        return None
    try:
        return int(stat[19])
    except ValueError:
        return None


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat from the state on (field 3), or None when there is no
    such file (no such process, or no /proc). The command name before them is in
    parentheses and may hold spaces or parentheses of its own."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    _, _, after_name = text.rpartition(")")
    return after_name.split()


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def _read_handle_list(path: Path) -> list[int] | None:
    """pgserver's handle list, or None when there is none or it is not a list of pids (then
    it is left as it is, for pgserver to make of it what it does)."""
    try:
        values = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        log.warning("the embedded server's handle list is unreadable", extra={"path": str(path)})
        return None
    if not isinstance(values, list) or not all(
        isinstance(value, int) and not isinstance(value, bool) for value in values
    ):
        log.warning(
            "the embedded server's handle list is not a list of pids", extra={"path": str(path)}
        )
        return None
    return values


def _read_starts(path: Path, boot: str | None) -> tuple[dict[int, int], set[int]]:
    """The recorded start of each pid recorded during this boot; and the pids recorded
    during another (every one of those processes has ended)."""
    try:
        record = json.loads(path.read_text())
        starts = {int(pid): int(ticks) for pid, ticks in record["starts"].items()}
        if boot is None:
            return {}, set()
        if record["boot_id"] != boot:
            return {}, set(starts)
        return starts, set()
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}, set()


def _write_json(path: Path, value: object) -> None:
    """Write path whole or not at all: pgserver reads the handle list with json.loads and
    would fail on a file cut short by a process killed as it wrote."""
    partial = path.with_name(f"{path.name}.cit-partial")
    partial.write_text(json.dumps(value))
    os.replace(partial, path)
