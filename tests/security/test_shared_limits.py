"""Two instances on one database hold one budget, and hear each other's changes (SPEC §9).

Each instance here is a whole app (its own caches, limits and change listener) on the test
database. Caches that would expire by themselves are made to last an hour, so only the
announcements can make the changes show within the second.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from app.api.app import create_app
from app.cache import TtlCache
from app.db.engine import create_engine
from app.repositories import limits as limits_repo
from app.repositories.limits import FailureCount
from app.services import agency, changes
from app.settings import Settings
from app.state import AppState
from tests.helpers import Api, grid_districts

SECOND = 1.0


@asynccontextmanager
async def instance(
    database_url: str, settings: Settings, client_host: str = "127.0.0.1", **changes: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, AppState]]:
    """Another instance of the service on the test database, whose caches last an hour."""
    app: FastAPI = create_app(settings.model_copy(update=changes), database_url)
    async with app.router.lifespan_context(app):
        state: AppState = app.state.cit
        state.principals = TtlCache(3600)
        state.contexts = TtlCache(3600)
        # Start from an instance that hears the others, however slow the machine.
        await asyncio.wait_for(state.announcements.listened.wait(), timeout=10)
        transport = httpx.ASGITransport(app=app, client=(client_host, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://cit.test") as http:
            yield http, state


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _within(seconds: float, holds: Callable[[], Awaitable[bool]]) -> float:
    """How long until holds() is true; fails past seconds."""
    started = time.monotonic()
    while not await holds():
        assert time.monotonic() - started < seconds, f"not within {seconds} s"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def test_the_rate_budget_holds_across_two_instances_within_one_refill(
    admin: Api, database_url: str, settings: Settings
) -> None:
    per_minute = 120  # 2 tokens a second
    # All at once: no request may be shed for being one too many in flight.
    limits: dict[str, Any] = {"rate_limit_per_minute": per_minute, "max_in_flight": 0}
    async with (
        instance(database_url, settings, **limits) as (a, _),
        instance(database_url, settings, **limits) as (b, _),
    ):
        headers = _bearer(admin.key)
        started = time.monotonic()
        answers = await asyncio.gather(
            *(http.get("/v1/policy", headers=headers) for _ in range(100) for http in (a, b))
        )
        elapsed = time.monotonic() - started
        allowed = [r for r in answers if r.status_code == 200]
        refused = [r for r in answers if r.status_code == 429]
        assert len(allowed) + len(refused) == len(answers)
        # One budget for both, plus what refilled meanwhile, plus one chunk per instance.
        assert per_minute <= len(allowed) <= per_minute + 2 * elapsed + 2, (len(allowed), elapsed)
        assert all(int(r.headers["Retry-After"]) >= 1 for r in refused)
        # Both instances refused the key once the one budget was spent (answers alternate).
        assert {r.status_code for r in answers[0::2]} == {200, 429}
        assert {r.status_code for r in answers[1::2]} == {200, 429}


async def test_concurrent_takes_from_one_bucket_never_spend_a_token_twice(
    admin: Api, db: asyncpg.Connection, database_url: str
) -> None:
    key_id = await db.fetchval("SELECT id FROM api_key WHERE agency_id = $1", admin.agency_id)
    url = database_url.replace("postgresql+asyncpg://", "postgresql://")
    conns = [await asyncpg.connect(url) for _ in range(10)]

    async def takes(conn: asyncpg.Connection) -> int:
        taken = 0
        for _ in range(3):
            taken += await conn.fetchval("SELECT taken FROM cit_take_tokens($1, 60, 7)", key_id)
        return taken

    try:
        started = time.monotonic()
        grants = await asyncio.gather(*(takes(conn) for conn in conns))
        elapsed = time.monotonic() - started
    finally:
        for conn in conns:
            await conn.close()
    # 30 takes of 7 from a bucket of 60 refilling 1 a second: 60, and what refilled.
    assert 60 <= sum(grants) <= 60 + elapsed + 1, (grants, elapsed)


async def test_a_take_commits_alone_and_leaves_its_connection_as_it_was(
    admin: Api, db: asyncpg.Connection, database_url: str
) -> None:
    """A take commits without waiting for the disk: a take lost to a crash gives back a
    chunk at most. That ends with the take, so nothing after it on the pooled connection
    commits so; and a take inside a transaction is refused, since it would make that
    transaction's commit (a call taken, say) asynchronous too."""
    key_id = await db.fetchval("SELECT id FROM api_key WHERE agency_id = $1", admin.agency_id)
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            on_its_own = await conn.execution_options(isolation_level="AUTOCOMMIT")
            taken, _ = await limits_repo.take_tokens(
                on_its_own, key_id=key_id, capacity=60, wanted=5
            )
            assert taken == 5
            assert (await on_its_own.exec_driver_sql("SHOW synchronous_commit")).scalar() == "on"
        async with engine.connect() as conn, conn.begin():
            await conn.exec_driver_sql("SELECT 1")  # the driver begins at the first statement
            with pytest.raises(RuntimeError, match="autocommit"):
                await limits_repo.take_tokens(conn, key_id=key_id, capacity=60, wanted=5)
            assert (await conn.exec_driver_sql("SHOW synchronous_commit")).scalar() == "on"
    finally:
        await engine.dispose()


async def test_a_lockout_on_one_instance_refuses_on_the_other(
    admin: Api, database_url: str, settings: Settings
) -> None:
    guess = _bearer(f"cit_{admin.key.split('_')[1]}_{'g' * 43}")
    address = "198.51.100.30"
    async with (
        instance(database_url, settings, client_host=address) as (a, _),
        instance(database_url, settings, client_host=address) as (b, _),
    ):
        # B knows the right key before the lockout.
        assert (await b.get("/v1/policy", headers=_bearer(admin.key))).status_code == 200
        for _ in range(settings.auth_failure_limit):
            assert (await a.get("/v1/policy", headers=guess)).status_code == 401

        async def b_refuses() -> bool:
            locked = await b.get("/v1/policy", headers=_bearer(admin.key))
            return locked.status_code == 429

        await _within(SECOND, b_refuses)
        locked = await b.get("/v1/policy", headers=_bearer(admin.key))
        assert 0 < int(locked.headers["Retry-After"]) <= settings.auth_lockout_seconds


async def test_a_success_on_an_instance_yet_to_hear_of_a_lockout_does_not_lift_it(
    admin: Api, database_url: str, settings: Settings
) -> None:
    guess = _bearer(f"cit_{admin.key.split('_')[1]}_{'g' * 43}")
    address = "198.51.100.32"
    counted = (address, admin.key.split("_")[1])
    limit = settings.auth_failure_limit
    async with (
        instance(database_url, settings, client_host=address) as (a, _),
        instance(database_url, settings, client_host=address) as (b, state_b),
    ):
        for _ in range(limit):
            assert (await a.get("/v1/policy", headers=guess)).status_code == 401

        async def b_heard() -> bool:
            return state_b.failures.retry_after(counted) is not None

        await _within(SECOND, b_heard)
        # B as it was a moment before the announcement reached it: the failures, no lockout.
        state_b.failures.replace([(counted, limit - 1, None)], read_since=time.monotonic())
        # The right key: B, which knows of failures, clears them in the database, which
        # keeps the lockout and tells B. The key is refused, and refused again.
        for _ in range(2):
            locked = await b.get("/v1/policy", headers=_bearer(admin.key))
            assert locked.status_code == 429
            assert 0 < int(locked.headers["Retry-After"]) <= settings.auth_lockout_seconds
    # An instance that starts now reads the lockout from the database, as soon as its
    # listener is up (no announcement bound applies to that read: 5 s for a slow machine).
    async with instance(database_url, settings, client_host=address) as (c, _):

        async def c_refuses() -> bool:
            return (await c.get("/v1/policy", headers=_bearer(admin.key))).status_code == 429

        await _within(5 * SECOND, c_refuses)


async def test_a_reload_of_the_failures_keeps_what_was_announced_while_it_read(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A reconnected listener reloads the counts. If a lockout is announced while that read
    # runs, the read is the older news: the lockout must not be taken back.
    state: AppState = app.state.cit
    locked, counted, gone = (
        ("198.51.100.40", "k1"),
        ("198.51.100.41", "k2"),
        ("198.51.100.42", "k3"),
    )
    state.failures.learn(gone, 3, None)  # known before the read; the database no longer has it

    async def older_read(conn: Any, **_: Any) -> list[FailureCount]:
        announced = {"client": locked[0], "prefix": locked[1], "failures": 5, "locked_for": 600}
        changes.heard(state, "auth " + json.dumps(announced))
        return [FailureCount(*locked, 4, None), FailureCount(*counted, 2, None)]

    monkeypatch.setattr(limits_repo, "current_failures", older_read)
    await changes.reload_failures(state)
    assert state.failures.retry_after(locked) is not None
    assert state.failures.has_failures(counted)
    assert not state.failures.has_failures(gone)


async def test_failures_count_across_instances_and_a_success_on_either_clears_them(
    admin: Api, database_url: str, settings: Settings
) -> None:
    guess = _bearer(f"cit_{admin.key.split('_')[1]}_{'g' * 43}")
    address = "198.51.100.31"
    limit = settings.auth_failure_limit
    async with (
        instance(database_url, settings, client_host=address) as (a, _),
        instance(database_url, settings, client_host=address) as (b, state_b),
    ):
        # Failures on A, then a success on B: the count starts over, on both.
        for _ in range(limit - 1):
            assert (await a.get("/v1/policy", headers=guess)).status_code == 401

        async def b_has_heard() -> bool:
            return state_b.failures.has_failures((address, admin.key.split("_")[1]))

        await _within(SECOND, b_has_heard)
        assert (await b.get("/v1/policy", headers=_bearer(admin.key))).status_code == 200
        for _ in range(limit - 1):
            assert (await a.get("/v1/policy", headers=guess)).status_code == 401
        assert (await a.get("/v1/policy", headers=_bearer(admin.key))).status_code == 200
        # Failures split between the two lock out at the limit, as on one instance.
        for n in range(limit):
            assert (await (a, b)[n % 2].get("/v1/policy", headers=guess)).status_code == 401
        assert (await a.get("/v1/policy", headers=_bearer(admin.key))).status_code == 429


async def test_a_key_revoked_on_one_instance_is_refused_by_the_other_within_a_second(
    admin: Api, database_url: str, settings: Settings
) -> None:
    created = await admin.ok("POST", "/v1/api-keys", {"role": "viewer"}, 201)
    key = _bearer(created["key"])
    async with instance(database_url, settings) as (b, _):
        assert (await b.get("/v1/policy", headers=key)).status_code == 200  # cached on B
        await admin.ok("DELETE", f"/v1/api-keys/{created['id']}", status=204)

        async def refused() -> bool:
            return (await b.get("/v1/policy", headers=key)).status_code == 401

        await _within(SECOND, refused)


async def test_a_key_stops_working_everywhere_within_a_second_of_its_expiry(
    admin: Api, db: asyncpg.Connection, database_url: str, settings: Settings
) -> None:
    expires = datetime.now(UTC) + timedelta(seconds=2)
    created = await admin.ok(
        "POST", "/v1/api-keys", {"role": "viewer", "expires_at": expires.isoformat()}, 201
    )
    key = _bearer(created["key"])
    re_dated = await admin.ok("POST", "/v1/api-keys", {"role": "viewer"}, 201)
    async with instance(database_url, settings) as (b, _):
        assert (await b.get("/v1/policy", headers=key)).status_code == 200  # cached on B
        assert (await b.get("/v1/policy", headers=_bearer(re_dated["key"]))).status_code == 200
        await asyncio.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()))

        async def refused() -> bool:
            return (await b.get("/v1/policy", headers=key)).status_code == 401

        await _within(SECOND, refused)
        # A key whose expiry is brought forward in the database is announced like a revocation.
        await db.execute("UPDATE api_key SET expires_at = now() WHERE id = $1", re_dated["id"])

        async def re_dated_refused() -> bool:
            answer = await b.get("/v1/policy", headers=_bearer(re_dated["key"]))
            return answer.status_code == 401

        await _within(SECOND, re_dated_refused)


async def test_district_and_policy_changes_reach_the_other_instance_within_a_second(
    admin: Api, database_url: str, settings: Settings
) -> None:
    await grid_districts(admin)
    async with instance(database_url, settings) as (b_http, b):
        on_b = Api(b_http, admin.key, admin.agency_id, admin.app)
        first = await on_b.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        version = first["recommendation"]["policy_version"]

        policy = await admin.ok("GET", "/v1/policy")
        await admin.ok("PUT", "/v1/policy", {**policy, "adjacency_depth": 2})

        async def b_routes_by_the_new_policy() -> bool:
            call = await on_b.ok("POST", "/v1/calls", {"district": "D1"}, 201)
            return bool(call["recommendation"]["policy_version"] == version + 1)

        await _within(SECOND, b_routes_by_the_new_policy)

        await admin.ok(
            "PATCH", "/v1/districts/D4", {"adjacent": ["D2", "D3", "D1"]}
        )  # adjacency only

        async def b_knows_the_new_adjacency() -> bool:
            context = await agency.context(b, admin.agency_id)
            return "D4" in context.adjacency.get("D1", frozenset())

        await _within(SECOND, b_knows_the_new_adjacency)


async def test_a_listener_that_reconnects_drops_every_cached_copy(
    admin: Api, db: asyncpg.Connection, database_url: str, settings: Settings
) -> None:
    async with instance(database_url, settings) as (b_http, b):
        assert (await b_http.get("/v1/policy", headers=_bearer(admin.key))).status_code == 200
        await agency.context(b, admin.agency_id)
        assert b.contexts.get(admin.agency_id) is not None
        # Cut every change listener (this instance's and the shared app's): what was
        # announced meanwhile is lost, so everything cached must go.
        await db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE query LIKE 'LISTEN%cit_changed%'"
        )

        async def dropped() -> bool:
            return b.contexts.get(admin.agency_id) is None and len(b.principals._entries) == 0

        await _within(5 * SECOND, dropped)
