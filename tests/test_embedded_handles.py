"""Which listed users of the embedded server are dropped as gone (app/db/embedded_handles.py),
and the pgserver details that rests on. No server is started here; the end-to-end case is
in tests/test_embedded_lifecycle.py."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.db import embedded, embedded_handles
from app.db.embedded_handles import HANDLE_LIST, STARTS_RECORD, drop_dead_handles

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="start times are read from /proc"
)


@pytest.fixture
def pgdata(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A live process that is not this one."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc
    proc.kill()
    proc.wait()


def _listed(pgdata: Path) -> list[int]:
    values: list[int] = json.loads((pgdata / HANDLE_LIST).read_text())
    return values


def _list(pgdata: Path, pids: list[int]) -> None:
    (pgdata / HANDLE_LIST).write_text(json.dumps(pids))


def _record(pgdata: Path, starts: dict[int, int], boot: str | None = None) -> None:
    boot_id = boot or Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    record = {"boot_id": boot_id, "starts": {str(pid): ticks for pid, ticks in starts.items()}}
    (pgdata / STARTS_RECORD).write_text(json.dumps(record))


def _gone_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", ""])
    proc.wait()
    return proc.pid


def _ticks(pid: int) -> int:
    ticks = embedded_handles._start_ticks(pid)
    assert ticks is not None
    return ticks


def test_a_process_that_is_gone_is_dropped_and_a_live_one_kept(
    pgdata: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    gone = _gone_pid()
    _list(pgdata, [gone, sleeper.pid, os.getpid()])
    assert drop_dead_handles(pgdata) == [gone]
    assert _listed(pgdata) == [sleeper.pid, os.getpid()]


def test_a_zombie_is_gone(pgdata: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", ""])
    try:
        # Exited, not yet reaped: /proc/<pid> is still there.
        deadline = time.monotonic() + 10
        while (embedded_handles._proc_stat(proc.pid) or ["?"])[0] != "Z":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        _list(pgdata, [proc.pid])
        assert drop_dead_handles(pgdata) == [proc.pid]
    finally:
        proc.wait()


def test_a_pid_someone_else_has_now_is_dropped(
    pgdata: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    """Recorded with another start time: the pid was reused."""
    _list(pgdata, [sleeper.pid])
    _record(pgdata, {sleeper.pid: _ticks(sleeper.pid) - 1})
    assert drop_dead_handles(pgdata) == [sleeper.pid]
    assert _listed(pgdata) == []


def test_a_live_process_recorded_as_it_is_or_not_recorded_is_kept(
    pgdata: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    _list(pgdata, [sleeper.pid, os.getppid()])
    _record(pgdata, {sleeper.pid: _ticks(sleeper.pid)})
    assert drop_dead_handles(pgdata) == []
    assert _listed(pgdata) == [sleeper.pid, os.getppid()]


def test_a_pid_recorded_during_another_boot_is_dropped_though_taken_now(
    pgdata: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    """After a reboot (a power loss), the processes listed before it are gone, and their
    small pids soon taken again (postgres' own, in a container): kept, they kept the server
    running for good (the review). A live pid recorded in no boot is kept, as ever."""
    _list(pgdata, [sleeper.pid, os.getppid()])
    _record(pgdata, {sleeper.pid: _ticks(sleeper.pid)}, boot="another boot")
    assert drop_dead_handles(pgdata) == [sleeper.pid]
    assert _listed(pgdata) == [os.getppid()]


def test_this_process_is_kept_and_recorded_though_its_pid_was_recorded_before(
    pgdata: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    """As in a container started again: serve has the pid a serve of its last life had."""
    gone = _gone_pid()
    _list(pgdata, [os.getpid(), sleeper.pid])
    _record(pgdata, {os.getpid(): _ticks(os.getpid()) - 1, gone: 1, sleeper.pid: 1})
    assert drop_dead_handles(pgdata) == [sleeper.pid]
    assert _listed(pgdata) == [os.getpid()]
    record = json.loads((pgdata / STARTS_RECORD).read_text())
    # The gone and the reused are forgotten.
    assert record["starts"] == {str(os.getpid()): _ticks(os.getpid())}


_PRUNE = (
    "import sys; from pathlib import Path;"
    " from app.db.embedded_handles import drop_dead_handles;"
    " drop_dead_handles(Path(sys.argv[1]))"
)


class _Joined:
    def get_uri(self) -> str:
        return "postgresql://postgres@/postgres"


def test_a_process_joining_is_recorded_before_another_can_prune_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its pid had a process of the data directory's last life (a container's pids repeat),
    recorded with that one's start: another process pruning between this one's joining and
    its recording dropped it as that dead one, and stopped the server under it on leaving
    (review). Pruned before joining too, its own start is on record by then."""
    import pgserver

    pgdata = tmp_path / "pg"
    pgdata.mkdir()
    (pgdata / "PG_VERSION").write_text("16\n")
    _list(pgdata, [])
    _record(pgdata, {os.getpid(): _ticks(os.getpid()) - 1})

    def join(path: Path, cleanup_mode: str) -> _Joined:
        _list(path, [*_listed(path), os.getpid()])  # as pgserver lists a process joining
        prune = [sys.executable, "-c", _PRUNE, str(path)]
        subprocess.run(prune, check=True, timeout=60)  # noqa: S603
        return _Joined()

    monkeypatch.setattr(pgserver, "get_server", join)
    monkeypatch.setattr(embedded, "_apply_settings", lambda uri, pgdata: None)
    monkeypatch.setattr(embedded, "_exit_cleanly_on_sigterm", lambda: None)
    embedded.start_embedded(tmp_path)
    assert _listed(pgdata) == [os.getpid()]


def test_a_list_that_is_not_a_list_of_pids_is_left_alone(pgdata: Path) -> None:
    (pgdata / HANDLE_LIST).write_text('{"not": "pids"}')
    assert drop_dead_handles(pgdata) == []
    assert (pgdata / HANDLE_LIST).read_text() == '{"not": "pids"}'


def test_a_list_that_cannot_be_written_does_not_stop_the_start(
    pgdata: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(path: Path, value: object) -> None:
        raise PermissionError(path)

    monkeypatch.setattr(embedded_handles, "_write_json", refuse)
    _list(pgdata, [_gone_pid()])
    assert drop_dead_handles(pgdata) == []
    assert "could not prune the embedded server's handle list" in caplog.text


def test_pgserver_keeps_its_handle_list_as_pruning_assumes() -> None:
    """pgserver 0.1.x's details the pruning relies on. If this fails after an upgrade of
    pgserver, read app/db/embedded_handles.py again against its new code."""
    import fasteners  # type: ignore[import-untyped]
    from pgserver.postgres_server import PostgresServer
    from pgserver.utils import DiskList

    lock = embedded_handles.handle_list_lock()
    assert isinstance(lock, fasteners.InterProcessLock)
    assert Path(os.fsdecode(lock.path)) == PostgresServer.lock_path
    # Joining and leaving read and write the list under that lock, at pgdata/HANDLE_LIST.
    joining = inspect.getsource(PostgresServer.__init__)
    assert f"'{HANDLE_LIST}'" in joining
    assert "with self._lock" in joining
    leaving = inspect.getsource(PostgresServer._cleanup)
    assert "with self._lock" in leaving
    assert "global_process_id_list.get_and_remove(os.getpid())" in leaving
    # A JSON list of pids, read whole.
    assert "json.loads(self.path.read_text())" in inspect.getsource(DiskList.get)
