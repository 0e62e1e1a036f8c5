"""SIGTERM: `serve` and `worker` stop taking work, finish what is in flight within
CIT_SHUTDOWN_GRACE_SECONDS, give back their webhook leases, and exit 0.

The first tests run the real commands as subprocesses and signal them; the last runs the
relay in this process, to hold some claims waiting for a connection (not yet sent).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from asyncio.subprocess import Process
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from app.db.engine import create_engine
from app.encryption import load_cipher
from app.settings import Settings
from app.webhooks.relay import LEASE, Relay
from tests.helpers import Api, failed_deliveries_counted, grid_districts
from tests.ports import free_port
from tests.receiver import Receiver

GRACE = 4.0


def _env(database_url: str, settings: Settings, **extra: str) -> dict[str, str]:
    assert settings.data_key is not None
    return {
        **os.environ,
        "CIT_DATABASE_URL": database_url,
        "CIT_DATA_KEY": settings.data_key.get_secret_value(),
        "CIT_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
        "CIT_ALERT_INTERVAL_SECONDS": "0",
        "CIT_LOG_LEVEL": "INFO",
        "CIT_SHUTDOWN_GRACE_SECONDS": str(GRACE),
        **extra,
    }


@contextlib.asynccontextmanager
async def _running(args: list[str], env: dict[str, str], log: Path) -> AsyncIterator[Process]:
    """`cit-dispatch args` as a subprocess; killed at the end if it is still running."""
    sink = await asyncio.to_thread(log.open, "ab")
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "app.cli", *args, env=env, stdout=sink, stderr=sink
        )
    finally:
        sink.close()
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def _terminate(proc: Process, log: Path) -> tuple[int, float]:
    """SIGTERM proc; its exit status and how many seconds it took to exit."""
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        code = await asyncio.wait_for(proc.wait(), GRACE + 10)
    except TimeoutError:
        raise AssertionError(f"still running after SIGTERM:\n{_read(log)}") from None
    return code, time.monotonic() - started


def _read(log: Path) -> str:
    return log.read_text()


async def _wait_ready(port: int, proc: Process, log: Path) -> None:
    deadline = time.monotonic() + 90
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            assert proc.returncode is None, _read(log)
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(f"http://127.0.0.1:{port}/livez", timeout=1)).is_success:
                    return
            await asyncio.sleep(0.2)
    raise AssertionError("serve did not become ready")


async def test_serve_on_sigterm_finishes_a_request_in_flight_refuses_new_ones_and_exits_0(
    database_url: str, settings: Settings, admin: Api, tmp_path: Path
) -> None:
    await grid_districts(admin)
    port = free_port()
    log = tmp_path / "serve.log"
    env = _env(database_url, settings, CIT_RUN_RELAY="false")
    body = b'{"district": "D1", "external_id": "CAD-2026-SLOW"}'
    async with _running(["serve", "--no-migrate", "--port", str(port)], env, log) as serve:
        await _wait_ready(port, serve, log)
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        # The request is in flight while its body arrives, slowly, as a slow client sends it.
        sock.sendall(
            b"POST /v1/calls HTTP/1.1\r\nHost: cit.test\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {admin.key}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body[:10]
        )
        await asyncio.sleep(0.5)
        started = time.monotonic()
        serve.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.5)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        for offset in range(10, len(body), 6):
            sock.sendall(body[offset : offset + 6])
            await asyncio.sleep(0.2)
        answer = await asyncio.to_thread(_read_until_closed, sock)
        code = await asyncio.wait_for(serve.wait(), GRACE + 10)
        took = time.monotonic() - started
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 201 "), answer
    assert b"connection: close" in head.lower()
    assert b'"external_id":"CAD-2026-SLOW"' in payload.replace(b" ", b"")
    assert code == 0, _read(log)
    assert took < GRACE, f"exited {took:.1f} s after SIGTERM"


async def test_a_request_still_running_when_the_grace_ends_gets_a_503_to_retry(
    database_url: str, settings: Settings, admin: Api, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """It was cancelled, and uvicorn answered a plain-text 500 without X-Request-ID: a
    CAD read a fault of the server, not a request to retry (the operations check)."""
    port = free_port()
    log = tmp_path / "serve.log"
    env = _env(
        database_url,
        settings,
        CIT_RUN_RELAY="false",
        CIT_SHUTDOWN_GRACE_SECONDS="1",
        CIT_DATABASE_TIMEOUT_SECONDS="60",
    )
    async with _running(["serve", "--no-migrate", "--port", str(port)], env, log) as serve:
        await _wait_ready(port, serve, log)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            # Held on a lock until the grace runs out (as by a migration at that moment).
            locker = db.transaction()
            await locker.start()
            try:
                await db.execute("LOCK TABLE call IN ACCESS EXCLUSIVE MODE")
                held = asyncio.create_task(
                    http.get("/v1/calls", headers=admin.headers, timeout=GRACE + 10)
                )
                await asyncio.sleep(0.5)
                serve.send_signal(signal.SIGTERM)
                answer = await held
            finally:
                await locker.rollback()
        code = await asyncio.wait_for(serve.wait(), GRACE + 10)
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["retry-after"] == "1"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-request-id"]
    problem = answer.json()
    assert problem["type"].endswith("/stopping")
    assert "CIT_SHUTDOWN_GRACE_SECONDS" in problem["detail"]
    assert code == 0, _read(log)


async def test_a_request_whose_body_is_still_arriving_when_the_grace_ends_gets_the_503(
    database_url: str, settings: Settings, admin: Api, tmp_path: Path
) -> None:
    """Its wait for the body is cut short as any other wait of a request (a review: a
    wait outside the middleware that answers it was a plain-text 500)."""
    port = free_port()
    log = tmp_path / "serve.log"
    env = _env(database_url, settings, CIT_RUN_RELAY="false", CIT_SHUTDOWN_GRACE_SECONDS="1")
    async with _running(["serve", "--no-migrate", "--port", str(port)], env, log) as serve:
        await _wait_ready(port, serve, log)
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(
            b"POST /v1/calls HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {admin.key}\r\n".encode()
            + b"Content-Length: 100\r\n\r\n{"
        )
        await asyncio.sleep(1.0)  # past the in-flight limit's lending of its place
        serve.send_signal(signal.SIGTERM)
        answer = await asyncio.to_thread(_read_until_closed, sock)
        code = await asyncio.wait_for(serve.wait(), GRACE + 10)
    head = answer.partition(b"\r\n\r\n")[0].decode("latin-1").lower()
    assert head.startswith("http/1.1 503 "), answer
    assert "content-type: application/problem+json" in head
    assert "x-request-id: " in head
    assert answer.endswith(b"}")
    assert b"/stopping" in answer
    assert code == 0, _read(log)


def _read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    with sock:
        sock.settimeout(GRACE + 5)
        while chunk := sock.recv(65536):
            data += chunk
    return data


async def _deliveries(db: asyncpg.Connection, subscription_id: str) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await db.fetch(
        "SELECT id, status, attempts, lease_until, next_attempt_at <= now() AS due"
        " FROM webhook_delivery WHERE subscription_id = $1 ORDER BY id",
        subscription_id,
    )
    return rows


@pytest.mark.parametrize("command", ["worker", "serve"])
async def test_sigterm_lets_an_answered_send_finish_and_releases_the_unanswered_at_once(
    command: str,
    database_url: str,
    settings: Settings,
    admin: Api,
    db: asyncpg.Connection,
    tmp_path: Path,
) -> None:
    """A receiver that answers within the grace is recorded as delivered; one that holds
    its answer past the grace has its deliveries given back, and a worker started right
    away sends them again at once, long before their leases would have run out."""
    await grid_districts(admin)
    answers, stuck = Receiver(hold=asyncio.Event()), Receiver(hold=asyncio.Event())
    await answers.start()
    await stuck.start()
    log = tmp_path / "relay.log"
    env = _env(database_url, settings, CIT_RUN_RELAY="true")
    first = (
        ["worker"] if command == "worker" else ["serve", "--no-migrate", "--port", str(free_port())]
    )
    try:
        quick = await admin.ok(
            "POST", "/v1/webhooks", {"url": answers.url, "events": ["call.created"]}, 201
        )
        held = await admin.ok(
            "POST", "/v1/webhooks", {"url": stuck.url, "events": ["call.created"]}, 201
        )
        async with _running(first, env, log) as relay:
            for _ in range(2):
                await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
            await answers.wait_for(2, within=60)
            await stuck.wait_for(2, within=10)
            leases = {r["id"]: r["lease_until"] for r in await _deliveries(db, held["id"])}
            assert all(leases.values())

            async def answer_soon() -> None:
                await asyncio.sleep(1.0)
                assert answers.hold is not None
                answers.hold.set()

            answering = asyncio.create_task(answer_soon())
            code, took = await _terminate(relay, log)
            await answering
        assert code == 0, _read(log)
        assert took < GRACE + 4, f"exited {took:.1f} s after SIGTERM"
        assert [r["status"] for r in await _deliveries(db, quick["id"])] == ["delivered"] * 2
        given_back = await _deliveries(db, held["id"])
        assert [(r["status"], r["lease_until"], r["due"]) for r in given_back] == [
            ("pending", None, True)
        ] * 2
        assert [r["attempts"] for r in given_back] == [1, 1]  # they were sent once

        held_event, stuck.hold = stuck.hold, None
        async with _running(["worker"], env, log) as second:
            again = (await stuck.wait_for(4, within=20))[2:]
            now = datetime.now(UTC)
            code, _ = await _terminate(second, log)
        assert code == 0, _read(log)
        assert {r.headers["webhook-id"] for r in again} == {str(i) for i in leases}
        # Sent again long before the first claim's lease (LEASE after it) would have let
        # anyone else have them.
        assert all(now < lease - LEASE / 3 for lease in leases.values()), (now, leases)
        assert len(answers.requests) == 2  # what was answered is not sent again
        assert held_event is not None
        held_event.set()
    finally:
        await answers.stop()
        await stuck.stop()


async def test_a_stopping_relay_gives_back_claims_not_yet_sent_at_once_uncounted(
    database_url: str,
    settings: Settings,
    admin: Api,
    receiver: Receiver,
    db: asyncpg.Connection,
) -> None:
    """With one connection to go round, one delivery is sent and two wait for it: on stop,
    the two are given back at once without counting an attempt, the sent one at the grace."""
    await grid_districts(admin)
    hook = await admin.ok(
        "POST", "/v1/webhooks", {"url": receiver.url, "events": ["call.created"]}, 201
    )
    receiver.hold = asyncio.Event()
    grace = 3.0
    async with _relay(database_url, settings, grace, max_connections=1) as (relay, running):
        for _ in range(3):
            await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        await receiver.wait_for(1)
        await _until(db, hook["id"], leased=3, within=10)
        await asyncio.sleep(0.3)
        assert len(receiver.requests) == 1

        started = time.monotonic()
        relay.stop()
        await _until(db, hook["id"], leased=1, within=1.5)  # the unsent, given back at once
        await asyncio.wait_for(asyncio.shield(running), timeout=grace + 2)
        assert time.monotonic() - started >= grace - 0.1  # the sent one had its grace
    rows = await _deliveries(db, hook["id"])
    assert [(r["status"], r["lease_until"], r["due"]) for r in rows] == [
        ("pending", None, True)
    ] * 3
    assert sorted(r["attempts"] for r in rows) == [0, 0, 1]
    held = receiver.hold
    receiver.hold = None
    held.set()


async def test_a_stopping_relay_gives_up_the_lease_of_a_delivery_failed_meanwhile(
    database_url: str,
    settings: Settings,
    admin: Api,
    receiver: Receiver,
    db: asyncpg.Connection,
) -> None:
    """Its subscription went off while its attempt waited for an answer past the grace: the
    delivery stays failed, its lease is given up, and its failure is counted then, once."""
    await grid_districts(admin)
    hook = await admin.ok(
        "POST", "/v1/webhooks", {"url": receiver.url, "events": ["call.created"]}, 201
    )
    held = receiver.hold = asyncio.Event()
    failed_before = failed_deliveries_counted()
    try:
        async with _relay(database_url, settings, grace=1.0) as (relay, running):
            await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
            await receiver.wait_for(1)
            await admin.ok("PATCH", f"/v1/webhooks/{hook['id']}", {"active": False}, 200)
            assert failed_deliveries_counted() == failed_before  # under way: counted as it ends
            relay.stop()
            await asyncio.wait_for(asyncio.shield(running), timeout=6)
    finally:
        held.set()
    [row] = await _deliveries(db, hook["id"])
    assert (row["status"], row["lease_until"], row["attempts"]) == ("failed", None, 1)
    assert failed_deliveries_counted() == failed_before + 1


@contextlib.asynccontextmanager
async def _relay(
    database_url: str, settings: Settings, grace: float, **options: Any
) -> AsyncIterator[tuple[Relay, asyncio.Task[None]]]:
    """A relay running in this process with the given grace, and its task."""
    relay_settings = settings.model_copy(update={"shutdown_grace_seconds": grace})
    engine = create_engine(database_url, pool_size=2)
    relay = Relay(engine, relay_settings, load_cipher(settings), **options)
    running = asyncio.create_task(relay.run())
    try:
        yield relay, running
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await engine.dispose()


async def _until(
    db: asyncpg.Connection, subscription_id: str, *, leased: int, within: float
) -> None:
    deadline = time.monotonic() + within
    while True:
        rows: list[Any] = await _deliveries(db, subscription_id)
        count = sum(r["lease_until"] is not None for r in rows)
        if count == leased and len(rows) == 3:
            return
        assert time.monotonic() < deadline, f"{count} leased, not {leased}: {rows}"
        await asyncio.sleep(0.05)
