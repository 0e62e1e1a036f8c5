"""The relay's LISTEN survives a database restart: a webhook is still woken by NOTIFY,
not left to the poll. On a private PostgreSQL the test restarts (tests/private_pg.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import asyncpg
import pytest

from app.db.engine import create_engine
from app.encryption import load_cipher
from app.settings import Settings
from app.webhooks.relay import Relay
from tests.api.test_database_outages import service
from tests.helpers import grid_districts
from tests.private_pg import PrivateServer, migrated_server
from tests.receiver import Receiver

# A private server of this module's own, migrated (tests/private_pg.py).
server = pytest.fixture(scope="module")(migrated_server)


async def _listening(server: PrivateServer) -> bool:
    conn = await asyncpg.connect(server.url)
    try:
        count = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN%'"
        )
        return bool(count)
    finally:
        await conn.close()


async def _until_listening(server: PrivateServer, within: float) -> None:
    deadline = time.monotonic() + within
    while not await _listening(server):
        assert time.monotonic() < deadline, "the relay is not listening"
        await asyncio.sleep(0.1)


async def test_the_relays_listen_survives_a_database_restart(
    server: PrivateServer,
    settings: Settings,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = create_engine(server.url, pool_size=2)
    # A 30 s poll: a delivery within a second can only have been woken by NOTIFY.
    relay = Relay(engine, settings, load_cipher(settings), poll_seconds=30)
    task = asyncio.create_task(relay.run())
    try:
        async with service(server, settings) as api:
            await grid_districts(api)
            hook = {"url": receiver.url, "events": ["call.created"]}
            await api.ok("POST", "/v1/webhooks", hook, 201)
            await _until_listening(server, within=10)
            await api.ok("POST", "/v1/calls", {"district": "D1"}, 201)
            await receiver.wait_for(1, within=3)

            with caplog.at_level(logging.INFO, logger="app.webhooks.relay"):
                server.restart()
                await _until_listening(server, within=15)  # reconnected, with back-off
                for _ in range(25):  # the app's pool reconnects too (503s meanwhile)
                    posted = time.monotonic()
                    response = await api.post("/v1/calls", {"district": "D1"})
                    if response.status_code == 201:
                        break
                    await asyncio.sleep(0.2)
                assert response.status_code == 201, response.text
                await receiver.wait_for(2, within=5)
                latency = time.monotonic() - posted
            assert latency < 0.5, f"delivered {latency:.2f} s after the call"
            messages = [r.getMessage() for r in caplog.records]
            assert any("LISTEN connection lost" in m for m in messages), messages
            assert any("listening again" in m for m in messages), messages
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await engine.dispose()


async def test_the_relay_says_the_database_is_down_once_and_when_it_is_back(
    server: PrivateServer, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """It failed at every poll while the database was down, a traceback each time (an
    operator's check): one line says it waits, one that it reaches the database again."""
    engine = create_engine(server.url, pool_size=2)
    relay = Relay(engine, settings, load_cipher(settings), poll_seconds=0.1)
    task = asyncio.create_task(relay.run())
    try:
        with caplog.at_level(logging.INFO, logger="app.webhooks.relay"):
            await asyncio.sleep(0.5)
            server.stop()
            try:
                await asyncio.sleep(2)  # about 20 polls
            finally:
                server.start()
            deadline = time.monotonic() + 15
            while not any("again" in r.getMessage() for r in caplog.records):
                assert time.monotonic() < deadline, "the relay never said it was back"
                await asyncio.sleep(0.1)
        messages = [r.getMessage() for r in caplog.records if r.name == "app.webhooks.relay"]
        assert messages.count("webhook relay waits for the database") == 1, messages
        assert "webhook relay round failed" not in messages
        assert not any(r.exc_info for r in caplog.records if r.name == "app.webhooks.relay")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await engine.dispose()
