"""The embedded PostgreSQL lives exactly as long as the cit-dispatch processes that use it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg
import httpx
import pytest
from pgserver.utils import PostmasterInfo

from tests.ports import free_port


def _postmaster_running(data_dir: Path) -> bool:
    pid_file = data_dir / "pg" / "postmaster.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().splitlines()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _setting(data_dir: Path, name: str) -> str:
    """A setting of the running embedded server, read over its socket (without joining it,
    which would keep it running)."""
    info = PostmasterInfo.read_from_pgdata(data_dir / "pg")
    assert info is not None

    async def show() -> str:
        conn = await asyncpg.connect(info.get_uri())
        try:
            value: str = await conn.fetchval(f"SHOW {name}")
            return value
        finally:
            await conn.close()

    return asyncio.run(show())


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError("service did not become ready")


def _env(data_dir: Path) -> dict[str, str]:
    # As under a service manager or in a container: no XDG_RUNTIME_DIR.
    unset = ("CIT_DATABASE_URL", "XDG_RUNTIME_DIR")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(CIT_DATA_DIR=str(data_dir), CIT_LOG_LEVEL="WARNING")
    return env


def _serve(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    """serve, in a process group of its own with its relay child (see _kill_group)."""
    with log.open("ab") as sink:
        return subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=sink,
            start_new_session=True,
        )


def _kill_group(serve: subprocess.Popen[bytes]) -> None:
    """Kill serve and its relay child, so that no relay child left behind by a failed test
    starts the server again after _stop_postmaster (pg_ctl puts postgres in a session of
    its own: this does not reach it)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(serve.pid, signal.SIGKILL)
    serve.wait()


def _handles(data_dir: Path) -> list[int]:
    """The pids pgserver counts as using the server (pgserver 0.1.x's handle list)."""
    listed: list[int] = json.loads((data_dir / "pg" / ".handle_pids.json").read_text())
    return listed


def _wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.2)
    return condition()


def _stop_postmaster(data_dir: Path) -> None:
    """Stop a server a failed test left running (fast shutdown), so that none outlives it."""
    info = PostmasterInfo.read_from_pgdata(data_dir / "pg")
    if info is not None and _postmaster_running(data_dir):
        os.kill(info.pid, signal.SIGINT)
        _wait_for(lambda: not _postmaster_running(data_dir), 15)


# A folder such as "My Projects": pg_ctl's shell would split a socket directory there.
@pytest.mark.parametrize("folder", ["", "My Projects/cit data"], ids=["plain", "with spaces"])
def test_sigterm_stops_embedded_postgres_but_a_cli_run_beside_serve_does_not(
    tmp_path: Path, folder: str
) -> None:
    data_dir = tmp_path / folder
    data_dir.mkdir(parents=True, exist_ok=True)
    env = _env(data_dir)
    port = free_port()
    log = data_dir / "serve.log"
    serve = _serve(env, port, log)
    try:
        _wait_ready(f"http://127.0.0.1:{port}/readyz", serve, log)
        assert _postmaster_running(data_dir)
        # The embedded server vacuums the rows dispatches leave behind every 10 s.
        assert _setting(data_dir, "autovacuum_naptime") == "10s"

        made = subprocess.run(
            [
                sys.executable,
                "-m",
                "app.cli",
                "agency",
                "create",
                "--name",
                "A",
                "--timezone",
                "UTC",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        key = json.loads(made.stdout)["api_key"]
        # Nothing at WARNING to say: no warning of a library's about the environment.
        assert made.stderr == ""
        # The CLI process exited, but serve still uses the server: it must still be up.
        assert _postmaster_running(data_dir)
        policy = httpx.get(
            f"http://127.0.0.1:{port}/v1/policy",
            headers={"Authorization": f"Bearer {key}"},
            timeout=5,
        )
        assert policy.status_code == 200

        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=30) == 0, log.read_text()
        deadline = time.monotonic() + 15
        while _postmaster_running(data_dir) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _postmaster_running(data_dir)
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()


def test_a_serve_killed_with_sigkill_does_not_keep_the_server_running_for_ever(
    tmp_path: Path,
) -> None:
    """pgserver stops the server when the last process it counts exits, and never forgets a
    process killed before it could say it left: the next serve drops it when it joins."""
    env = _env(tmp_path)
    log = tmp_path / "serve.log"
    first_port, second_port = free_port(), free_port()
    killed = _serve(env, first_port, log)
    again: subprocess.Popen[bytes] | None = None
    try:
        _wait_ready(f"http://127.0.0.1:{first_port}/readyz", killed, log)
        # serve and its relay child are counted (this pins pgserver's handle list).
        assert _wait_for(lambda: len(_handles(tmp_path)) == 2, 30), _handles(tmp_path)
        assert killed.pid in _handles(tmp_path)
        killed.kill()
        killed.wait()
        # The relay child sees serve gone and leaves; serve, killed, never could.
        assert _wait_for(lambda: _handles(tmp_path) == [killed.pid], 30), _handles(tmp_path)
        assert _postmaster_running(tmp_path)

        again = _serve(env, second_port, log)
        _wait_ready(f"http://127.0.0.1:{second_port}/readyz", again, log)
        assert again.pid in _handles(tmp_path)

        again.send_signal(signal.SIGTERM)
        assert again.wait(timeout=30) == 0, log.read_text()
        assert _wait_for(lambda: not _postmaster_running(tmp_path), 15), _handles(tmp_path)
        # The killed serve is no longer counted either.
        assert _handles(tmp_path) == []
    finally:
        for proc in (killed, again):
            if proc is not None:
                _kill_group(proc)
        _stop_postmaster(tmp_path)
