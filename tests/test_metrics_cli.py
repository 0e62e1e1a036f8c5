"""The metrics listener of the command line: `worker` opens its own, and a clash of ports
(with the API's, or with a port already taken) is one line before anything starts."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from app.encryption import generate_key
from tests.ports import free_port
from tests.test_cli import _cli, _one_clear_line
from tests.test_metrics import IN_USE, Scrape, parsed


def test_a_setting_clash_is_one_line_naming_the_metrics_port() -> None:
    env = {"CIT_PORT": "9100", "CIT_METRICS_PORT": "9100"}
    result = _cli("postgresql://x@127.0.0.1:9/n", "migrate", env=env)
    line = _one_clear_line(result, "CIT_METRICS_PORT", "9100")
    assert result.returncode == 2, line


@contextlib.contextmanager
def _taken_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


@pytest.mark.parametrize("command", [["worker"], ["serve", "--no-migrate"]])
def test_a_process_whose_metrics_port_is_taken_stops_with_one_line(command: list[str]) -> None:
    # serve said it in a traceback inside a JSON log record, and exited 3.
    with _taken_port() as port:
        env = {"CIT_METRICS_PORT": str(port), "CIT_DATA_KEY": generate_key()}
        result = _cli("postgresql://x@127.0.0.1:9/n", *command, env=env)
    line = _one_clear_line(result, "CIT_METRICS_PORT", str(port))
    assert result.returncode == 2, line


def test_serve_whose_api_port_is_taken_stops_with_one_line_before_migrating() -> None:
    # It migrated first, then uvicorn logged the error as a JSON record and exited 3; the
    # database here does not exist: a start that reached it would say so instead.
    with _taken_port() as port:
        env = {"CIT_PORT": str(port), "CIT_DATA_KEY": generate_key()}
        result = _cli("postgresql://x@127.0.0.1:9/n", "serve", env=env)
    line = _one_clear_line(result, "CIT_PORT (--port)", str(port))
    assert "in use" in line
    assert result.returncode == 2


@pytest.mark.parametrize("host", ["bogus.invalid", "192.0.2.1"])
def test_serve_on_a_host_it_cannot_have_names_the_host_not_the_port(host: str) -> None:
    # Both were said as CIT_PORT's: a name that does not resolve, an address not this
    # machine's (TEST-NET-1).
    env = {"CIT_HOST": host, "CIT_PORT": str(free_port()), "CIT_DATA_KEY": generate_key()}
    result = _cli("postgresql://x@127.0.0.1:9/n", "serve", env=env)
    line = _one_clear_line(result, "CIT_HOST", host)
    assert "CIT_PORT" not in line
    assert result.returncode == 2


@pytest.mark.parametrize("host", ["bogus.invalid", "192.0.2.1"])
def test_metrics_on_a_host_it_cannot_have_names_the_metrics_host(host: str) -> None:
    # Said as CIT_METRICS_PORT's (the operations check).
    env = {
        "CIT_METRICS_HOST": host,
        "CIT_METRICS_PORT": str(free_port()),
        "CIT_DATA_KEY": generate_key(),
    }
    result = _cli("postgresql://x@127.0.0.1:9/n", "worker", env=env)
    line = _one_clear_line(result, "CIT_METRICS_HOST", host)
    assert "CIT_METRICS_PORT" not in line
    assert result.returncode == 2


async def test_a_worker_serves_its_own_metrics(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "CIT_DATABASE_URL": database_url,
        "CIT_DATA_KEY": generate_key(),
        "CIT_METRICS_PORT": str(port),
    }
    log = tmp_path / "worker.log"
    worker = await _started("worker", env=env, log=log)
    try:
        # Its relay's pool lends the LISTEN connection (once migrations are done).
        scrape = await _scraped(port, worker, lambda s: s.value(IN_USE) >= 1)
    finally:
        worker.terminate()
        await asyncio.wait_for(worker.wait(), timeout=30)
    assert "cit_webhook_deliveries_total" in scrape.names()
    records = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    (started,) = [r for r in records if r["msg"] == "webhook worker started"]
    assert (started["relay"], started["metrics"]) == (True, f"127.0.0.1:{port}")
    assert started["database"].endswith(f"/{make_url(database_url).database}")


async def test_serve_without_a_relay_gives_no_outbox_gauge(
    database_url: str, tmp_path: Path
) -> None:
    """With CIT_RUN_RELAY=false it has no backlog to tell: it said 0 (none waiting) while the
    workers were all down and deliveries waited (an operator's check). Its first line says
    where it listens, on what, and whether it relays: no start-up line said any of it (the
    operations check)."""
    port = free_port()
    api_port = free_port()
    env = {
        **os.environ,
        "CIT_DATABASE_URL": database_url,
        "CIT_DATA_KEY": generate_key(),
        "CIT_PORT": str(api_port),
        "CIT_METRICS_PORT": str(port),
        "CIT_RUN_RELAY": "false",
    }
    log = tmp_path / "serve.log"
    serve = await _started("serve", "--no-migrate", env=env, log=log)
    try:
        scrape = await _scraped(port, serve, lambda s: "cit_webhook_deliveries_total" in s.names())
        # The metrics listen first, before the database is reached: wait for the API.
        async with httpx.AsyncClient() as http:
            for _ in range(300):
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(f"http://127.0.0.1:{api_port}/livez")).is_success:
                        break
                await asyncio.sleep(0.1)
    finally:
        serve.terminate()
        await asyncio.wait_for(serve.wait(), timeout=30)
    assert "cit_outbox_oldest_pending_seconds" not in scrape.names()
    records = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    (serving,) = [r for r in records if r["msg"] == "serving"]
    where = make_url(database_url)
    assert serving["listen"] == f"127.0.0.1:{api_port}"
    assert serving["metrics"] == f"127.0.0.1:{port}"
    # Its server and database (a host, or the embedded server's socket directory), never
    # the user it connects as.
    assert serving["database"].endswith(f":{where.port or 5432}/{where.database}")
    assert "@" not in serving["database"]
    assert f"{where.username}:" not in serving["database"]
    assert serving["database_version"].split(".")[0].isdigit()
    assert serving["relay"] is False
    assert serving["release"] == importlib.metadata.version("cit-dispatch")


async def _started(
    *command: str, env: dict[str, str], log: Path | None = None
) -> asyncio.subprocess.Process:
    """`cit-dispatch <command>` in a process of its own, its output in log (else dropped)."""
    sink = None if log is None else await asyncio.to_thread(log.open, "wb")
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app.cli",
            *command,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL if sink is None else sink,
        )
    finally:
        if sink is not None:
            sink.close()


async def _scraped(
    port: int, process: asyncio.subprocess.Process, ready: Callable[[Scrape], bool]
) -> Scrape:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient() as http:
        while True:
            assert process.returncode is None, "the worker exited"
            with contextlib.suppress(httpx.TransportError):
                response = await http.get(f"http://127.0.0.1:{port}/metrics")
                if response.status_code == 200:
                    scrape = parsed(response.text)
                    if ready(scrape):
                        return scrape
            if time.monotonic() > deadline:
                pytest.fail("the worker never served its metrics")
            await asyncio.sleep(0.2)
