"""The caches of API keys and agency contexts: the requests that find an entry missing
share one load, and an entry past half its life is read again behind the request that
finds it so, which goes on with the entry it has, and sets the read off once its answer
has begun. A context read again keeps the district boundaries that did not change
(app/cache.py, app/agency_context.py).

The instance here hears no announcements, as if it had missed them: what it learns, it
learns from its own refreshes."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Message

from app.agency_context import AgencyContext
from app.api.app import create_app
from app.cache import TtlCache
from app.repositories.agencies import load_agency_context
from app.security import Principal, hash_key
from app.services import agency, auth
from app.settings import Settings
from app.state import AppState
from tests.helpers import Api, grid_districts, square

TTL = 3.0


@pytest.fixture
async def deaf(database_url: str, settings: Settings) -> AsyncIterator[FastAPI]:
    """Another instance on the test database that hears no announcements, its caches
    lasting TTL seconds."""
    other = create_app(settings, database_url)
    async with other.router.lifespan_context(other):
        state: AppState = other.state.cit
        await state.announcements.aclose()
        state.principals = TtlCache(TTL)
        state.contexts = TtlCache(TTL)
        yield other


async def _landed(state: AppState) -> None:
    """Until the loads of keys and contexts in flight have landed."""
    await state.principal_loads.settle()
    await state.context_loads.settle()
    assert len(state.principal_loads) == len(state.context_loads) == 0


def _slowed(
    loads: list[object], read: Callable[..., Awaitable[Any]]
) -> Callable[..., Awaitable[Any]]:
    """read, counted in loads, and slow enough for everything after it to run first."""

    async def slow(*args: Any, **kw: Any) -> Any:
        loads.append(args[-1])
        await asyncio.sleep(0.1)
        return await read(*args, **kw)

    return slow


async def test_requests_that_find_a_key_uncached_share_one_lookup(
    app: FastAPI, admin: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    state: AppState = app.state.cit
    digest = hash_key(admin.key)
    lookups: list[object] = []
    monkeypatch.setattr(auth, "_find_principal", _slowed(lookups, auth._find_principal))
    state.principals.clear()
    found = await asyncio.gather(*(auth._principal(state, digest) for _ in range(20)))
    assert lookups == [digest]
    assert all(p is not None and p.agency_id == admin.agency_id for p in found)
    assert len(state.principal_loads) == 0


async def test_requests_missing_a_district_at_once_share_a_reload(
    admin: Api, deaf: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each request naming a district the context does not know reloads it, and each forgot
    the load in flight: twenty such calls at once made twenty loads. (On the instance that
    hears no announcements: one arriving late would drop the context mid-test.)"""
    await grid_districts(admin)
    state: AppState = deaf.state.cit
    await agency.context(state, admin.agency_id)
    # The first load is held until all twenty have missed (5 s at most), so they miss
    # while it runs: they share the next one.
    missed = 0
    everyone = asyncio.Event()
    fresh = state.context_loads.fresh

    async def counted(*args: Any, **kw: Any) -> Any:
        nonlocal missed
        missed += 1
        if missed == 20:
            everyone.set()
        return await fresh(*args, **kw)

    loads: list[object] = []

    async def held(*args: Any, **kw: Any) -> Any:
        loads.append(args[-1])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(everyone.wait(), timeout=5)
        return await load_agency_context(*args, **kw)

    monkeypatch.setattr(state.context_loads, "fresh", counted)
    monkeypatch.setattr(agency, "load_agency_context", held)
    transport = httpx.ASGITransport(app=deaf)
    async with httpx.AsyncClient(transport=transport, base_url="http://b.test") as b:
        answers = await asyncio.gather(
            *(
                b.post("/v1/calls", json={"district": "D9"}, headers=admin.headers)
                for _ in range(20)
            )
        )
    assert [a.status_code for a in answers] == [422] * 20
    assert len(loads) == 2


async def test_a_district_made_while_a_reload_runs_is_found_by_the_next_miss(
    admin: Api, deaf: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A miss shares only a load begun after it: one begun before the district was made
    would answer it with a context that lacks the district."""
    await grid_districts(admin)
    state: AppState = deaf.state.cit
    await agency.context(state, admin.agency_id)
    loads: list[object] = []
    read = asyncio.Event()

    async def read_then_linger(*args: Any, **kw: Any) -> Any:
        loads.append(args[-1])
        loaded = await load_agency_context(*args, **kw)
        read.set()
        await asyncio.sleep(0.3)
        return loaded

    monkeypatch.setattr(agency, "load_agency_context", read_then_linger)
    transport = httpx.ASGITransport(app=deaf)
    async with httpx.AsyncClient(transport=transport, base_url="http://b.test") as b:
        early = asyncio.create_task(
            b.post("/v1/calls", json={"district": "D6"}, headers=admin.headers)
        )
        await read.wait()
        # Made (on the other instance) after the first reload read the districts.
        await admin.ok("POST", "/v1/districts", {"code": "D5", "name": "Annexed"}, 201)
        late = await b.post("/v1/calls", json={"district": "D5"}, headers=admin.headers)
        assert late.status_code == 201, late.text
        assert (await early).status_code == 422
    assert len(loads) == 2


async def test_a_context_past_half_its_life_is_read_again_behind_the_request(
    admin: Api, deaf: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    await grid_districts(admin)
    state: AppState = deaf.state.cit
    first = await agency.context(state, admin.agency_id)
    # A district added elsewhere; this instance does not hear of it.
    await admin.ok("POST", "/v1/districts", {"code": "D5", "name": "Annexed"}, 201)
    loads: list[object] = []
    monkeypatch.setattr(agency, "load_agency_context", _slowed(loads, load_agency_context))

    # Before half its life, the context is used as it is, and nothing is read.
    assert await agency.context(state, admin.agency_id) is first
    assert loads == []
    await asyncio.sleep(TTL / 2)
    # Past it: the requests go on with the context they have while one load runs.
    during = await asyncio.gather(*(agency.context(state, admin.agency_id) for _ in range(5)))
    assert all(c is first for c in during)
    assert len(state.context_loads) == 1
    await _landed(state)
    after = await agency.context(state, admin.agency_id)
    assert after is not first
    assert "D5" in after.districts_by_code
    assert loads == [admin.agency_id]


async def test_a_key_revoked_unheard_is_refused_once_its_refresh_lands_within_the_ttl(
    admin: Api, deaf: FastAPI
) -> None:
    created = await admin.ok("POST", "/v1/api-keys", {"role": "viewer"}, 201)
    headers = {"Authorization": f"Bearer {created['key']}"}
    state: AppState = deaf.state.cit
    transport = httpx.ASGITransport(app=deaf)
    async with httpx.AsyncClient(transport=transport, base_url="http://b.test") as b:
        assert (await b.get("/v1/policy", headers=headers)).status_code == 200
        cached_at = time.monotonic()
        await admin.ok("DELETE", f"/v1/api-keys/{created['id']}", status=204)
        await asyncio.sleep(TTL / 2)
        # The request that finds the key past half its life is let in by the cached key
        # (as any request within the TTL of a revocation it missed); its refresh finds the
        # key revoked and drops it, so the next one is refused before the TTL is out.
        assert (await b.get("/v1/policy", headers=headers)).status_code == 200
        await _landed(state)
        assert (await b.get("/v1/policy", headers=headers)).status_code == 401
        assert time.monotonic() - cached_at < TTL
        assert state.principals.get(hash_key(created["key"])) is None


async def test_a_refresh_that_fails_leaves_the_entry_to_expire_at_its_ttl(
    admin: Api, deaf: FastAPI, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    state: AppState = deaf.state.cit
    digest = hash_key(admin.key)
    principal = await auth._principal(state, digest)
    assert principal is not None

    async def down(*_: object) -> Principal | None:
        raise ConnectionRefusedError("the database is down")

    monkeypatch.setattr(auth, "_find_principal", down)
    await asyncio.sleep(TTL / 2)
    # The refresh fails behind the request; the key holds for the rest of its TTL.
    assert await auth._principal(state, digest) is principal
    await _landed(state)
    assert "could not refresh a cached API key" in caplog.text
    assert await auth._principal(state, digest) is principal
    await asyncio.sleep(TTL / 2)
    with pytest.raises(ConnectionRefusedError):
        await auth._principal(state, digest)


async def test_a_refresh_places_calls_by_a_boundary_redrawn_elsewhere(
    admin: Api, deaf: FastAPI
) -> None:
    await grid_districts(admin)
    state: AppState = deaf.state.cit
    state.contexts.clear()  # its housekeeping may have read the agency during the grid
    point = {"lat": 40.785, "lon": -111.92}  # in D1's square
    transport = httpx.ASGITransport(app=deaf)
    async with httpx.AsyncClient(transport=transport, base_url="http://b.test") as client:
        b = Api(client, admin.key, admin.agency_id, deaf)
        assert (await b.ok("POST", "/v1/calls", {"location": point}, 201))["district"] == "D1"
        before = {boundary.code: boundary for boundary in (await _context(state, admin)).boundaries}
        # Redrawn elsewhere, unheard here: D1 moves north, D2 grows over D1's old square.
        await admin.ok("PATCH", "/v1/districts/D1", {"boundary": square(40.90, -111.95)})
        await admin.ok("PATCH", "/v1/districts/D2", {"boundary": square(40.76, -111.95, 0.1)})
        await asyncio.sleep(TTL / 2)
        await _context(state, admin)  # past half its life: the refresh starts
        await _landed(state)
        assert (await b.ok("POST", "/v1/calls", {"location": point}, 201))["district"] == "D2"
        after = {boundary.code: boundary for boundary in (await _context(state, admin)).boundaries}
    # The boundaries that did not change were not prepared again.
    assert sorted(before) == sorted(after) == ["D1", "D2", "D3", "D4"]
    assert after["D3"] is before["D3"]
    assert after["D4"] is before["D4"]
    assert after["D1"] is not before["D1"]


async def _context(state: AppState, admin: Api) -> AgencyContext:
    return await agency.context(state, admin.agency_id)


async def test_a_request_sets_off_its_refresh_once_its_answer_has_begun(
    admin: Api, deaf: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The request that finds the key past half its life does not share the event loop
    with the lookup it sets off: the lookup starts when the answer has begun."""
    happened: list[str] = []

    async def get_policy() -> int:
        sent: list[int] = []

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                happened.append("answer")
                sent.append(message["status"])

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/v1/policy",
            "raw_path": b"/v1/policy",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"b.test"), (b"authorization", f"Bearer {admin.key}".encode())],
            "client": ("127.0.0.1", 40000),
            "server": ("b.test", 80),
        }
        await deaf(scope, receive, send)
        return sent[0]

    assert await get_policy() == 200  # the key is cached
    find = auth._find_principal

    async def noted(*args: Any) -> Principal | None:
        happened.append("lookup")
        return await find(*args)

    monkeypatch.setattr(auth, "_find_principal", noted)
    happened.clear()
    await asyncio.sleep(TTL / 2)
    assert await get_policy() == 200
    await _landed(deaf.state.cit)
    assert happened == ["answer", "lookup"]
