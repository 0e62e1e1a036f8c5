"""/v1/api-keys, revocation across instances, failed-auth lockout, rate limits and CORS."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from app import security
from app.api.app import create_app
from app.limits import RefusalTally
from app.services import auth
from app.settings import Settings
from app.state import CLIENT_BUDGET
from tests.helpers import Api, add_officer, grid_districts, until_waiting_on_locks


@asynccontextmanager
async def service(
    database_url: str, settings: Settings, client_host: str = "127.0.0.1", **changes: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """Another instance of the service on the same database (its own caches and limits)."""
    app: FastAPI = create_app(settings.model_copy(update=changes), database_url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(client_host, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://cit.test") as http:
            yield http


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_a_new_key_is_shown_once_stored_hashed_and_works(
    admin: Api, db: asyncpg.Connection
) -> None:
    created = await admin.ok(
        "POST", "/v1/api-keys", {"role": "dispatcher", "name": "Console 4"}, 201
    )
    key = created["key"]
    assert key.startswith(f"cit_{created['prefix']}_")
    assert len(key) >= 4 + 8 + 1 + 43  # 32 random bytes, base64url
    assert (await admin.client.get("/v1/calls", headers=_bearer(key))).status_code == 200
    assert (await admin.client.get("/v1/policy", headers=_bearer(key))).status_code == 200
    listed = (await admin.ok("GET", "/v1/api-keys"))["items"]
    mine = next(k for k in listed if k["id"] == created["id"])
    assert mine["role"] == "dispatcher"
    assert "key" not in mine
    assert key not in (await admin.get("/v1/api-keys")).text
    row = await db.fetchval("SELECT to_jsonb(k)::text FROM api_key k WHERE id = $1", mine["id"])
    assert key not in row


async def test_a_new_key_whose_prefix_is_taken_draws_another(
    admin: Api, other_admin: Api, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Prefixes are 32 random bits, unique among every agency's keys: a clash with one was
    a 500 (for the CLI, "the database refused")."""
    taken = (await other_admin.ok("POST", "/v1/api-keys", {"role": "viewer"}, 201))["prefix"]
    fresh = security.generate_key()
    clashes = [
        security.NewKey(secret=f"cit_{taken}_x{n}", prefix=taken, digest=bytes(32 - n) + b"x" * n)
        for n in (1, 2)
    ]
    queue = [*clashes, fresh]
    monkeypatch.setattr(security, "generate_key", lambda: queue.pop(0))
    created = await admin.ok("POST", "/v1/api-keys", {"role": "dispatcher"}, 201)
    assert (created["prefix"], created["key"]) == (fresh.prefix, fresh.secret)
    assert (await admin.client.get("/v1/calls", headers=_bearer(created["key"]))).status_code == 200
    assert queue == []
    assert await db.fetchval("SELECT count(*) FROM api_key WHERE prefix = $1", taken) == 1


async def test_key_requests_that_make_no_sense_are_422(admin: Api, other_admin: Api) -> None:
    await grid_districts(other_admin)
    theirs = await add_officer(other_admin, district="D1", call_sign="9Z9")
    cases = [
        {"role": "unit"},
        {"role": "viewer", "responder_id": theirs},
        {"role": "unit", "responder_id": theirs},
        {"role": "viewer", "expires_at": "2020-01-01T00:00:00Z"},
        {"role": "root"},
    ]
    for body in cases:
        response = await admin.post("/v1/api-keys", body)
        assert response.status_code == 422, body
    assert len((await admin.ok("GET", "/v1/api-keys"))["items"]) == 1


async def test_a_unit_key_is_bound_to_its_responder(admin: Api) -> None:
    await grid_districts(admin)
    officer = await add_officer(admin, district="D1", call_sign="1A11")
    created = await admin.ok("POST", "/v1/api-keys", {"role": "unit", "responder_id": officer}, 201)
    assert created["responder_type"] == "officer"
    me = await admin.client.get("/v1/units/me", headers=_bearer(created["key"]))
    assert me.json()["unit"]["responder_id"] == officer


async def test_revocation_takes_effect_at_once_here_and_within_5s_elsewhere(
    admin: Api, database_url: str, settings: Settings
) -> None:
    created = await admin.ok("POST", "/v1/api-keys", {"role": "viewer"}, 201)
    key = created["key"]
    async with service(database_url, settings) as elsewhere:
        # The other instance has the key cached before the revocation.
        assert (await elsewhere.get("/v1/policy", headers=_bearer(key))).status_code == 200
        await admin.ok("DELETE", f"/v1/api-keys/{created['id']}", status=204)
        revoked_at = time.monotonic()
        assert (await admin.client.get("/v1/policy", headers=_bearer(key))).status_code == 401
        while (await elsewhere.get("/v1/policy", headers=_bearer(key))).status_code != 401:
            assert time.monotonic() - revoked_at < 5.0, "revocation took longer than 5 s"
            await asyncio.sleep(0.1)
    listed = (await admin.ok("GET", "/v1/api-keys"))["items"]
    assert next(k for k in listed if k["id"] == created["id"])["revoked_at"] is not None


async def test_the_agencys_last_valid_admin_key_is_not_revoked(
    admin: Api, db: asyncpg.Connection
) -> None:
    """Revoked, nobody could manage the agency's keys, roster or policy by the API again
    (outside-in check). Two admins revoking each other's keys at once leave one."""
    [mine] = [k for k in (await admin.ok("GET", "/v1/api-keys"))["items"] if k["role"] == "admin"]
    refused = await admin.delete(f"/v1/api-keys/{mine['id']}")
    assert refused.status_code == 409, refused.text
    assert "last valid admin key" in refused.json()["detail"]
    # Another, valid: then either may go. An expired one does not count.
    await db.execute(
        "UPDATE api_key SET expires_at = now() - interval '1 s' WHERE id = $1",
        (await admin.ok("POST", "/v1/api-keys", {"role": "admin"}, 201))["id"],
    )
    assert (await admin.delete(f"/v1/api-keys/{mine['id']}")).status_code == 409
    # Nor does one about to expire (the admin's check: one made for 20 minutes let the
    # last lasting key go, and the agency was locked out when it expired).
    soon = (datetime.now(UTC) + timedelta(minutes=20)).isoformat()
    await admin.ok("POST", "/v1/api-keys", {"role": "admin", "expires_at": soon}, 201)
    refused = await admin.delete(f"/v1/api-keys/{mine['id']}")
    assert refused.status_code == 409, refused.text
    assert "the others expire within a day" in refused.json()["detail"]
    other = await admin.ok("POST", "/v1/api-keys", {"role": "admin"}, 201)
    theirs = Api(client=admin.client, key=other["key"], agency_id=admin.agency_id, app=admin.app)
    # Both revocations read the keys while a lock on one holds them up, then go on at once.
    held = db.transaction()
    await held.start()
    await db.execute("SELECT 1 FROM api_key WHERE id = $1 FOR UPDATE", uuid.UUID(mine["id"]))
    answers = asyncio.gather(
        admin.delete(f"/v1/api-keys/{other['id']}"),
        theirs.delete(f"/v1/api-keys/{mine['id']}"),
    )
    # Both wait on it (with the admin keys locked as they are read; read unlocked, one
    # revocation goes through at once and the other then fails as revoked meanwhile).
    await asyncio.wait_for(until_waiting_on_locks(db, 2), timeout=3)
    await held.rollback()
    assert sorted(a.status_code for a in await answers) == [204, 409]
    valid = await db.fetchval(
        "SELECT count(*) FROM api_key WHERE role = 'admin' AND revoked_at IS NULL"
        " AND (expires_at IS NULL OR expires_at > now() + interval '1 day')"
    )
    assert valid == 1


async def test_an_expired_key_is_refused(admin: Api, db: asyncpg.Connection) -> None:
    created = await admin.ok(
        "POST", "/v1/api-keys", {"role": "viewer", "expires_at": "2099-01-01T00:00:00Z"}, 201
    )
    await db.execute(
        "UPDATE api_key SET expires_at = now() - interval '1 second' WHERE id = $1",
        created["id"],
    )
    response = await admin.client.get("/v1/policy", headers=_bearer(created["key"]))
    assert response.status_code == 401


async def test_failed_authentications_lock_the_client_out(
    admin: Api, database_url: str, settings: Settings
) -> None:
    viewer = await admin.with_role("viewer")
    guess = f"cit_{admin.key.split('_')[1]}_{'g' * 43}"
    async with (
        service(database_url, settings, client_host="198.51.100.7") as attacker,
        service(database_url, settings, client_host="198.51.100.8") as bystander,
    ):
        for _ in range(5):
            assert (await attacker.get("/v1/policy", headers=_bearer(guess))).status_code == 401
        # That key is locked out from that client, even with the right secret...
        locked = await attacker.get("/v1/policy", headers=_bearer(admin.key))
        assert locked.status_code == 429
        assert locked.headers["content-type"] == "application/problem+json"
        assert 0 < int(locked.headers["Retry-After"]) <= settings.auth_lockout_seconds
        # ...but not from elsewhere, and other keys on the same client still work.
        assert (await bystander.get("/v1/policy", headers=_bearer(admin.key))).status_code == 200
        assert (await attacker.get("/v1/policy", headers=viewer.headers)).status_code == 200
        # Keys that are not even ours, or none at all, are locked out per client too.
        for _ in range(5):
            assert (await attacker.get("/v1/policy")).status_code == 401
        assert (await attacker.get("/v1/policy")).status_code == 429
        nonsense = await attacker.get("/v1/policy", headers=_bearer("not-a-key"))
        assert nonsense.status_code == 429


async def test_guessing_with_ever_new_prefixes_locks_the_address_out(
    admin: Api, database_url: str, settings: Settings
) -> None:
    budget = settings.auth_failure_limit * CLIENT_BUDGET
    async with service(database_url, settings, client_host="198.51.100.10") as http:
        for n in range(budget):
            guess = _bearer(f"cit_{n:08x}_guess")
            assert (await http.get("/v1/policy", headers=guess)).status_code == 401
        assert (await http.get("/v1/policy", headers=admin.headers)).status_code == 429


async def test_a_burst_of_guesses_at_once_learns_no_more_than_the_lockout_allows(
    admin: Api, database_url: str, settings: Settings
) -> None:
    # Tries sent together were all checked before any was counted: 40 wrong keys were all
    # told 401, while the right key among them met the lockout (429) and stood out.
    limit = settings.auth_failure_limit
    prefix = admin.key.split("_")[1]
    guesses = [_bearer(f"cit_{prefix}_{n:043d}") for n in range(40)]
    async with service(database_url, settings, client_host="198.51.100.11") as http:
        answers = await asyncio.gather(*(http.get("/v1/policy", headers=g) for g in guesses))
        codes = sorted(a.status_code for a in answers)
        assert codes == [401] * limit + [429] * (len(guesses) - limit)
        assert all(int(a.headers["Retry-After"]) >= 1 for a in answers if a.status_code == 429)
    # The right key sent among them, after them, is refused with the rest: it was let in
    # while they were still being counted, and stood out with its 200 (outside-in check).
    async with service(database_url, settings, client_host="198.51.100.13") as http:
        # In use here already (by its owner, from the same address): its key is cached.
        assert (await http.get("/v1/policy", headers=admin.headers)).status_code == 200
        tries = [*guesses, _bearer(admin.key)]
        answers = await asyncio.gather(*(http.get("/v1/policy", headers=t) for t in tries))
        assert answers[-1].status_code == 429
        assert sorted(a.status_code for a in answers[:-1]) == [401] * limit + [429] * (
            len(guesses) - limit
        )
    # Ever-new prefixes in a burst: the address's budget (one try a key here, to keep the
    # burst within the pool), then its lockout.
    budget = 1 * CLIENT_BUDGET
    fresh = [_bearer(f"cit_{n:08x}_guess") for n in range(budget + 20)]
    async with service(
        database_url, settings, client_host="198.51.100.12", auth_failure_limit=1
    ) as http:
        answers = await asyncio.gather(*(http.get("/v1/policy", headers=g) for g in fresh))
        assert sorted(a.status_code for a in answers) == [401] * budget + [429] * 20


async def test_a_success_resets_the_failure_count(
    admin: Api, database_url: str, settings: Settings
) -> None:
    async with service(database_url, settings, client_host="198.51.100.9") as http:
        for _ in range(3):
            for _ in range(4):
                await http.get("/v1/policy", headers=_bearer("cit_00000000_guess"))
            assert (await http.get("/v1/policy", headers=_bearer(admin.key))).status_code == 200


async def test_the_per_key_rate_limit(admin: Api, database_url: str, settings: Settings) -> None:
    async with service(database_url, settings, rate_limit_per_minute=3) as http:
        codes = [(await http.get("/v1/policy", headers=_bearer(admin.key))) for _ in range(4)]
        assert [r.status_code for r in codes] == [200, 200, 200, 429]
        assert int(codes[-1].headers["Retry-After"]) >= 1
        # Another key has its own allowance.
        viewer = await admin.with_role("viewer")
        assert (await http.get("/v1/policy", headers=viewer.headers)).status_code == 200


async def test_cors_is_off_unless_origins_are_configured(
    client: httpx.AsyncClient, database_url: str, settings: Settings
) -> None:
    preflight = {
        "Origin": "https://console.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    off = await client.options("/v1/calls", headers=preflight)
    assert "access-control-allow-origin" not in off.headers
    async with service(database_url, settings, cors_origins="https://console.example") as http:
        on = await http.options("/v1/calls", headers=preflight)
        assert on.headers["access-control-allow-origin"] == "https://console.example"
        other = await http.options(
            "/v1/calls", headers={**preflight, "Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in other.headers
        # An answer the body limit gives, before any route: the console reads its status
        # (it was written outside CORS, so the browser showed a CORS error instead).
        big = await http.post(
            "/v1/calls",
            content=b"x" * (settings.max_body_bytes + 1),
            headers={"Origin": "https://console.example", "Content-Type": "application/json"},
        )
        assert big.status_code == 413
        assert big.headers["access-control-allow-origin"] == "https://console.example"
        assert "x-request-id" in big.headers["access-control-expose-headers"].lower()
        # A console writing back the policy it read: it sends If-Match, and reads the ETag
        # (the review: the browser refused the preflight, and hid the ETag).
        write_back = {
            **preflight,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "authorization, content-type, if-match",
        }
        allowed = await http.options("/v1/policy", headers=write_back)
        assert allowed.status_code == 200, allowed.text
        assert "etag" in big.headers["access-control-expose-headers"].lower()
        # A body sent as text: the 415 names what to send, and the console may read it.
        as_text = await http.post(
            "/v1/calls",
            content=b"{}",
            headers={"Origin": "https://console.example", "Content-Type": "text/plain"},
        )
        assert as_text.status_code == 415
        assert as_text.headers["accept-post"].startswith("application/json")
        exposed = as_text.headers["access-control-expose-headers"].lower().split(", ")
        assert {"accept-post", "accept-patch", "allow"} <= set(exposed)


async def test_requests_refused_during_a_lockout_reach_the_audit_trail_a_minute_at_a_time(
    admin: Api, other_admin: Api, database_url: str, settings: Settings
) -> None:
    # 99 requests with a revoked key left 6 auth.failed entries: the 94 refused with 429
    # during the lockout were not in the trail at all.
    created = await admin.ok("POST", "/v1/api-keys", {"role": "viewer"}, 201)
    await admin.ok("DELETE", f"/v1/api-keys/{created['id']}", status=204)
    address = "198.51.100.20"
    app = create_app(settings, database_url)
    async with app.router.lifespan_context(app):
        state = app.state.cit
        # A clock of the test's own, so the test need not wait a minute between entries,
        # and a slow machine cannot end a window early.
        now = [0.0]
        state.lockout_refusals = RefusalTally(60.0, clock=lambda: now[0])
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://cit.test") as http:
            codes = [
                (await http.get("/v1/policy", headers=_bearer(created["key"]))).status_code
                for _ in range(99)
            ]
            assert codes == [401] * 5 + [429] * 94

            async def trail() -> list[dict[str, Any]]:
                page = await admin.ok("GET", "/v1/audit?action=auth.failed&limit=500")
                items: list[dict[str, Any]] = page["items"]
                return items

            # The first refusal is recorded at once; the next 93 are held for the window.
            entries = await trail()
            assert [e["detail"].get("refused") for e in entries] == [1] + [None] * 5
            lockout = entries[0]
            assert lockout["outcome"] == "denied"
            assert lockout["resource_id"] == created["id"]
            assert lockout["detail"] == {
                "key_prefix": created["prefix"],
                "client": address,
                "locked_out": True,
                "refused": 1,
            }
            # Once the window has passed, the held refusals are recorded with their count.
            now[0] += 60.0
            assert await auth.record_held_refusals(state) == 1
            assert [e["detail"].get("refused") for e in await trail()] == [93, 1] + [None] * 5
            # The next refusal after a window opens a new one, recorded at once.
            assert (
                await http.get("/v1/policy", headers=_bearer(created["key"]))
            ).status_code == 429
            refused = [e["detail"].get("refused") for e in await trail()]
            assert refused == [1, 93, 1] + [None] * 5
            assert sum(n for n in refused if n) == 95
    # Only the agency whose key prefix was presented sees them.
    assert (await other_admin.ok("GET", "/v1/audit?action=auth.failed"))["items"] == []


async def test_the_hot_write_routes_refuse_a_missing_or_bad_key_with_the_bearer_challenge(
    database_url: str, settings: Settings
) -> None:
    """401 with WWW-Authenticate: Bearer (RFC 6750), before the body is even looked at."""
    dispatch = "/v1/calls/00000000-0000-0000-0000-000000000000/dispatch"
    async with service(database_url, settings, client_host="198.51.100.20") as anonymous:
        for path in ("/v1/calls", dispatch):
            for headers in ({}, _bearer("not-a-key")):
                response = await anonymous.post(path, json={}, headers=headers)
                assert response.status_code == 401, (path, headers)
                assert response.headers["WWW-Authenticate"] == "Bearer"
                assert response.headers["content-type"] == "application/problem+json"
