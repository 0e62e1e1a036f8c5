"""The database starting, stopping, refusing, hanging and restarting: a 503 with Retry-After,
never a 500; the first request after a quiet restart succeeds; /readyz answers within its
bound; the relay's LISTEN comes back
(tests/api/test_relay_listen.py).

Each test drives a private PostgreSQL of its own (tests/private_pg.py), never the shared one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from app.api.app import create_app
from app.db.engine import create_engine, dispose_within
from app.db.raw import driver
from app.db.unit_of_work import UnitOfWork
from app.services import changes
from app.settings import Settings
from tests.helpers import Api, new_agency
from tests.ports import free_port
from tests.private_pg import PrivateServer, migrated_server

# A private server of this module's own, migrated (tests/private_pg.py).
server = pytest.fixture(scope="module")(migrated_server)


@pytest.fixture
def running(server: PrivateServer) -> Iterator[PrivateServer]:
    """The private server, up; put back up (thawed, primary) whatever the test did to it."""
    yield server
    with contextlib.suppress(Exception):
        server.thaw()
    (server.pgdata / "standby.signal").unlink(missing_ok=True)
    server.restart()


@asynccontextmanager
async def service(
    server: PrivateServer, settings: Settings, **overrides: Any
) -> AsyncIterator[Api]:
    """The app on the private server, and an admin of a fresh agency there."""
    app = create_app(settings.model_copy(update=overrides), server.url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://cit.test") as http:
            yield await new_agency(app, http, name="Outage County", timezone="UTC")


async def _owner(server: PrivateServer) -> asyncpg.Connection:
    return await asyncpg.connect(server.url)


def _is_503(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) > 0
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_server_starting_up_is_503_with_retry_after(
    running: PrivateServer, settings: Settings
) -> None:
    async with service(running, settings) as api:
        # A standby without hot standby answers every connection with SQLSTATE 57P03
        # (cannot_connect_now), as a server starting up or recovering from a crash does.
        running.stop()
        (running.pgdata / "standby.signal").touch()
        running.start(extra="-c hot_standby=off")
        with pytest.raises(asyncpg.CannotConnectNowError):
            await _owner(running)
        for _ in range(3):
            _is_503(await api.get("/v1/policy"))
            _is_503(await api.client.get("/readyz"))


async def test_too_many_connections_is_503_with_retry_after(
    running: PrivateServer, settings: Settings
) -> None:
    owner = await _owner(running)
    try:
        async with service(running, settings, cache_ttl_seconds=0) as api:
            await owner.execute("ALTER ROLE cit_app CONNECTION LIMIT 0")  # 53300 from now on
            # Every pooled connection is gone, so the next request must open a new one.
            await owner.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'cit_app'"
            )
            _is_503(await api.get("/v1/policy"))
    finally:
        await owner.execute("ALTER ROLE cit_app CONNECTION LIMIT -1")
        await owner.close()


async def test_a_connection_lost_mid_request_is_503_with_retry_after(
    running: PrivateServer, settings: Settings
) -> None:
    owner = await _owner(running)
    try:
        async with service(running, settings) as api:
            await api.ok("GET", "/v1/calls")
            # The request waits on the lock; its backend is then terminated under it.
            locker = owner.transaction()
            await locker.start()
            await owner.execute("LOCK TABLE call IN ACCESS EXCLUSIVE MODE")
            request = asyncio.create_task(api.get("/v1/calls"))
            for _ in range(100):
                killed = await owner.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE usename = 'cit_app' AND wait_event_type = 'Lock'"
                )
                if killed:
                    break
                await asyncio.sleep(0.05)
            assert killed
            _is_503(await request)
            await locker.rollback()
            # And the next request is served on a fresh connection.
            await api.ok("GET", "/v1/calls")
    finally:
        await owner.close()


@pytest.mark.parametrize("cache_ttl", [0.0, 5.0], ids=["key-looked-up", "key-cached"])
async def test_the_first_request_after_a_quiet_restart_succeeds(
    running: PrivateServer, settings: Settings, cache_ttl: float
) -> None:
    """With the key looked up, the first statement is the key's lookup; with it cached,
    the BEGIN of the unit of work. Either finds every pooled connection dead."""
    async with service(running, settings, cache_ttl_seconds=cache_ttl) as api:
        for _ in range(3):
            await api.ok("GET", "/v1/calls")
            await _write(api)
        running.restart()
        await api.ok("GET", "/v1/calls")
        await _write(api)
        assert (await api.client.get("/readyz")).status_code == 200


async def test_the_failure_counts_are_reloaded_after_a_restart(
    running: PrivateServer, settings: Settings
) -> None:
    """An instance reloads the failed-authentication counts when its listener reconnects,
    on a pooled connection that the restart killed: it failed every time (an operator's
    check), and lockouts begun meanwhile on other instances went unknown here."""
    async with service(running, settings) as api:
        state = api.app.state.cit
        prefix = api.key.split("_")[1]
        guess = {"Authorization": f"Bearer cit_{prefix}_{'g' * 43}"}
        assert (await api.client.get("/v1/policy", headers=guess)).status_code == 401
        counted = ("127.0.0.1", prefix)
        assert state.failures.has_failures(counted)
        running.restart()
        state.failures.replace([], read_since=state.failures.clock())
        await changes.reload_failures(state)
        assert state.failures.has_failures(counted)


async def _write(api: Api) -> None:
    policy = await api.ok("GET", "/v1/policy")
    del policy["created_at"]
    await api.ok("PUT", "/v1/policy", policy)


async def test_readyz_answers_503_within_its_bound_when_the_database_hangs(
    running: PrivateServer, settings: Settings
) -> None:
    async with service(running, settings, readyz_timeout_seconds=1.0) as api:
        assert (await api.client.get("/readyz")).status_code == 200
        running.freeze()  # pooled connections and new ones alike: no answer, ever
        try:
            for _ in range(2):
                started = time.monotonic()
                _is_503(await api.client.get("/readyz"))
                assert time.monotonic() - started < 2.0
        finally:
            running.thaw()
        # Once the database answers again, so does /readyz.
        for _ in range(50):
            if (await api.client.get("/readyz")).status_code == 200:
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("/readyz did not recover")


async def test_a_request_the_database_does_not_answer_is_503_within_its_bound(
    running: PrivateServer, settings: Settings
) -> None:
    """A server that froze (or a network that dropped it) took the request and never
    answered: the request hung for as long (a CAD's client gave up first, with no answer;
    the operations check). Now it answers 503 a second past the statement's bound (3 s
    here), a write too (its failure's audit entry waited on the database again, 5 s in
    all: review r3), and the connection it hung on is never used again."""
    async with service(running, settings, database_timeout_seconds=2.0, cache_ttl_seconds=5) as api:
        await api.ok("POST", "/v1/districts", {"code": "D1", "name": "North"}, 201)
        running.freeze()
        try:
            for method, path, body in (
                ("POST", "/v1/calls", {"district": "D1"}),
                ("GET", "/v1/calls", None),
                ("GET", "/v1/calls", None),
            ):
                started = time.monotonic()
                answer = await asyncio.wait_for(
                    api.client.request(method, path, json=body, headers=api.headers), timeout=20
                )
                took = time.monotonic() - started
                _is_503(answer)
                assert "did not answer in time" in answer.json()["detail"]
                assert took < 4.2, f"{method} answered after {took:.1f} s"
        finally:
            running.thaw()
        for _ in range(3):
            await api.ok("GET", "/v1/calls")
            await _write(api)


async def test_a_unit_of_work_the_database_does_not_answer_ends_at_once(
    running: PrivateServer,
) -> None:
    """Once its statement went unanswered, the unit of work closes its connection without a
    word to the server: a ROLLBACK first waited for the statement's cancellation as long
    again, and a graceful close 2 s more (review r3)."""
    engine = create_engine(running.url, command_timeout=1.0)
    try:
        autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        work = UnitOfWork(autocommit, uuid.uuid4())
        await (await driver(await work.connection())).execute("SELECT 1")
        failed_at = 0.0

        async def unanswered() -> None:
            nonlocal failed_at
            async with work:
                conn = await work.connection()
                try:
                    await (await driver(conn)).execute("SELECT 1")
                finally:
                    failed_at = time.monotonic()

        running.freeze()
        try:
            with pytest.raises(TimeoutError):
                await unanswered()
            ended = time.monotonic() - failed_at
        finally:
            running.thaw()
        assert ended < 1.0, f"ended {ended:.1f} s after the statement failed"
    finally:
        await dispose_within(engine)


async def test_a_key_looked_up_on_a_database_that_does_not_answer_is_503_within_its_bound(
    running: PrivateServer, settings: Settings
) -> None:
    """The key's lookup runs through SQLAlchemy, which took the timeout for a disconnect and
    closed the connection gracefully, 2 s more on a server that does not answer (review
    r4: 503 after the bound and 3 s). A second past the bound, as any statement."""
    async with service(running, settings, database_timeout_seconds=2.0, cache_ttl_seconds=0) as api:
        await api.ok("GET", "/v1/calls")
        running.freeze()
        try:
            started = time.monotonic()
            answer = await asyncio.wait_for(api.get("/v1/policy"), timeout=20)
            took = time.monotonic() - started
        finally:
            running.thaw()
        _is_503(answer)
        assert took < 4.2, f"answered after {took:.1f} s"


async def _waiting_on_locks(owner: asyncpg.Connection) -> int:
    """How many of cit_app's backends wait on a lock, once any just cancelled has let go
    (up to 2 s)."""
    count = 0
    for _ in range(20):
        count = await owner.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = 'cit_app'"
            " AND wait_event_type = 'Lock'"
        )
        if count == 0:
            break
        await asyncio.sleep(0.1)
    return count


async def test_a_request_waiting_on_a_lock_past_its_bound_is_503_and_leaves_no_backend(
    running: PrivateServer, settings: Settings
) -> None:
    """A migration (or an operator) holding a table's lock: the request answers 503 at
    its bound, and nothing of it is kept. The server cancels the statement: a connection
    closed under it left its backend waiting in the lock's queue, holding a connection
    slot, one more each time (review r3: 20 after 20 requests)."""
    owner = await _owner(running)
    try:
        async with service(running, settings, database_timeout_seconds=1.0) as api:
            await api.ok("POST", "/v1/districts", {"code": "D1", "name": "North"}, 201)
            before = await owner.fetchval("SELECT count(*) FROM call")
            locker = owner.transaction()
            await locker.start()
            await owner.execute("LOCK TABLE call IN ACCESS EXCLUSIVE MODE")
            try:
                for _ in range(3):
                    started = time.monotonic()
                    held = await asyncio.wait_for(
                        api.post("/v1/calls", {"district": "D1"}), timeout=20
                    )
                    took = time.monotonic() - started
                    _is_503(held)
                    assert "did not answer in time" in held.json()["detail"]
                    assert took < 3.5, f"answered after {took:.1f} s"
                # The lock still held: nothing of those requests waits in its queue.
                assert await _waiting_on_locks(owner) == 0
            finally:
                await locker.rollback()
            assert await owner.fetchval("SELECT count(*) FROM call") == before
            # The database answered (it cancelled the statements): each failed attempt is in
            # the trail, as any other is.
            failed = await owner.fetchval(
                "SELECT count(*) FROM audit_entry WHERE action = 'call.create'"
                " AND outcome = 'error'"
            )
            assert failed == 3
            await api.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    finally:
        await owner.close()


async def test_a_key_looked_up_under_a_lock_leaves_no_backend_in_its_queue(
    running: PrivateServer, settings: Settings
) -> None:
    """A statement outside a unit of work (the key's lookup) is cancelled by the server
    too: with the timeout set per transaction only, its connection was shut under it and
    its backend left waiting in the lock's queue (review r5: 3 after 3 requests)."""
    owner = await _owner(running)
    try:
        async with service(
            running, settings, database_timeout_seconds=1.0, cache_ttl_seconds=0
        ) as api:
            await api.ok("GET", "/v1/policy")
            locker = owner.transaction()
            await locker.start()
            await owner.execute("LOCK TABLE api_key IN ACCESS EXCLUSIVE MODE")
            try:
                for _ in range(3):
                    _is_503(await asyncio.wait_for(api.get("/v1/policy"), timeout=20))
                assert await _waiting_on_locks(owner) == 0
            finally:
                await locker.rollback()
            await api.ok("GET", "/v1/policy")
    finally:
        await owner.close()


async def test_serve_stops_within_its_bound_while_the_database_does_not_answer(
    running: PrivateServer, settings: Settings, tmp_path: Path
) -> None:
    """It waited for the database to take its connections' leave, for ever: the
    orchestrator had to kill it (the operations check)."""
    assert settings.data_key is not None
    port = free_port()
    env = {
        **os.environ,
        "CIT_DATABASE_URL": running.url,
        "CIT_DATA_KEY": settings.data_key.get_secret_value(),
        "CIT_SHUTDOWN_GRACE_SECONDS": "1",
        "CIT_RUN_RELAY": "false",
    }
    sink = await asyncio.to_thread((tmp_path / "serve.log").open, "wb")
    try:
        serve = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app.cli",
            "serve",
            "--no-migrate",
            "--port",
            str(port),
            env=env,
            stdout=sink,
            stderr=sink,
        )
    finally:
        sink.close()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for _ in range(300):
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/readyz", timeout=1)).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError((tmp_path / "serve.log").read_text())
        running.freeze()
        started = time.monotonic()
        serve.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(serve.wait(), 30)
        took = time.monotonic() - started
    finally:
        running.thaw()
        if serve.returncode is None:
            serve.kill()
            await serve.wait()
    assert code == 0, (tmp_path / "serve.log").read_text()
    assert took < 10.0, f"exited {took:.1f} s after SIGTERM"
