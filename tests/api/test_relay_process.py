"""`serve` runs its relay in a child process: the relay's series still show on `serve`'s
metrics listener, the child stops when `serve` dies without a word, and a child that dies
on its own is started again."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from app.settings import Settings
from tests.api.test_shutdown import _env, _read, _running, _terminate, _wait_ready
from tests.helpers import Api, grid_districts
from tests.ports import free_port
from tests.receiver import Receiver

# A sample: its name and labels.
Key = tuple[str, frozenset[tuple[str, str]]]


def _children(pid: int) -> list[int]:
    """The processes whose parent is pid (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid …": comm may hold spaces, so split after its ")".
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _relay_children(pid: int) -> list[int]:
    relays = []
    for child in _children(pid):
        try:
            command = (Path("/proc") / str(child) / "cmdline").read_bytes()
        except OSError:
            continue
        if b"app.webhooks.process" in command:
            relays.append(child)
    return relays


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


async def _scrape(port: int) -> dict[Key, float]:
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{port}/metrics", timeout=5)).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_serve_relays_from_a_child_whose_deliveries_count_on_serves_metrics(
    database_url: str, settings: Settings, admin: Api, receiver: Receiver, tmp_path: Path
) -> None:
    await grid_districts(admin)
    await admin.ok("POST", "/v1/webhooks", {"url": receiver.url, "events": ["call.created"]}, 201)
    port, metrics_port = free_port(), free_port()
    log = tmp_path / "serve.log"
    env = _env(database_url, settings, CIT_RUN_RELAY="true", CIT_METRICS_PORT=str(metrics_port))
    delivered: Key = ("cit_webhook_deliveries_total", frozenset({("outcome", "delivered")}))
    timed: Key = ("cit_webhook_first_attempt_seconds_count", frozenset())
    async with _running(["serve", "--no-migrate", "--port", str(port)], env, log) as serve:
        await _wait_ready(port, serve, log)
        [relay] = _relay_children(serve.pid)
        before = await _scrape(metrics_port)
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        await receiver.wait_for(1, within=30)
        deadline = time.monotonic() + 10
        while (after := await _scrape(metrics_port))[delivered] < before[delivered] + 1:
            assert time.monotonic() < deadline, _read(log)
            await asyncio.sleep(0.2)
        assert after[timed] == before[timed] + 1
        code, _ = await _terminate(serve, log)
    assert code == 0, _read(log)
    assert not _alive(relay)


@contextlib.asynccontextmanager
async def _serving_with_relay(
    database_url: str, settings: Settings, log: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`serve` with its relay child, ready; its output in log."""
    port = free_port()
    env = _env(database_url, settings, CIT_RUN_RELAY="true")
    async with _running(["serve", "--no-migrate", "--port", str(port)], env, log) as serve:
        await _wait_ready(port, serve, log)
        yield serve


async def test_the_relay_child_stops_when_serve_is_killed(
    database_url: str, settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    async with _serving_with_relay(database_url, settings, log) as serve:
        [relay] = _relay_children(serve.pid)
        serve.kill()  # SIGKILL: serve tells its child nothing
        await serve.wait()
        deadline = time.monotonic() + 10
        while _alive(relay):
            if time.monotonic() > deadline:
                os.kill(relay, signal.SIGKILL)
                raise AssertionError(f"the relay outlived serve:\n{_read(log)}")
            await asyncio.sleep(0.1)
    assert '"webhook relay stopped"' in _read(log)


async def test_a_relay_child_that_dies_is_started_again_and_webhooks_resume(
    database_url: str, settings: Settings, admin: Api, receiver: Receiver, tmp_path: Path
) -> None:
    await grid_districts(admin)
    await admin.ok("POST", "/v1/webhooks", {"url": receiver.url, "events": ["call.created"]}, 201)
    log = tmp_path / "serve.log"
    async with _serving_with_relay(database_url, settings, log) as serve:
        [first] = _relay_children(serve.pid)
        os.kill(first, signal.SIGKILL)  # the out-of-memory killer, say
        deadline = time.monotonic() + 15
        while not (others := [pid for pid in _relay_children(serve.pid) if pid != first]):
            assert time.monotonic() < deadline, f"no new relay child:\n{_read(log)}"
            await asyncio.sleep(0.1)
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        await receiver.wait_for(1, within=30)
        code, _ = await _terminate(serve, log)
    assert code == 0, _read(log)
    assert '"webhook relay exited unexpectedly; starting it again"' in _read(log)
    assert not _alive(first)
    assert not any(_alive(pid) for pid in others)
