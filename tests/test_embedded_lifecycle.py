"""The embedded PostgreSQL lives exactly as long as the cit-dispatch processes that use it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
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


# A folder such as "My Projects": pg_ctl's shell would split a socket directory there.
@pytest.mark.parametrize("folder", ["", "My Projects/cit data"], ids=["plain", "with spaces"])
def test_sigterm_stops_embedded_postgres_but_a_cli_run_beside_serve_does_not(
    tmp_path: Path, folder: str
) -> None:
    data_dir = tmp_path / folder
    data_dir.mkdir(parents=True, exist_ok=True)
    # As under a service manager or in a container: no XDG_RUNTIME_DIR.
    unset = ("CIT_DATABASE_URL", "XDG_RUNTIME_DIR")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(CIT_DATA_DIR=str(data_dir), CIT_LOG_LEVEL="WARNING")
    port = free_port()
    log = data_dir / "serve.log"
    with log.open("wb") as sink:
        serve = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=sink,
        )
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
