"""Stream tickets (SPEC §6.5): a browser's EventSource cannot send an Authorization
header, so a key is traded for a short-lived, single-use ticket that opens one stream.

Tickets are issued through the shared app and redeemed by the live server (another app on
the same database), as a console's back end and its stream may meet different instances.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from app.limits import FailureMirror
from app.security import TICKET_SECONDS, hash_key
from app.services import housekeeping
from tests.api.test_stream import (
    MAX_STREAMS,
    Live,
    Stream,
    body,
    live,
    slots_given_back,
    stream,
)
from tests.helpers import Api, add_co_responder, grid_districts

__all__ = ["live"]  # the live server fixture, shared with tests/api/test_stream.py


@pytest.fixture(autouse=True)
def _no_lockout(live: Live) -> Iterator[None]:
    """Refused tickets count as failed authentications on the live server: start each
    test without the last one's."""
    yield
    live.state.failures = FailureMirror(float(live.state.settings.auth_lockout_seconds))


async def _ticket(api: Api) -> str:
    issued = await api.ok("POST", "/v1/stream/tickets", None, 201)
    ticket: str = issued["ticket"]
    return ticket


async def _get(live: Live, params: dict[str, str], headers: Any = None) -> httpx.Response:
    """A stream request that must be refused: one that opens a stream fails the test at
    once (a stream never ends by itself)."""
    async with (
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{live.port}", timeout=10) as http,
        http.stream("GET", "/v1/stream", params=params, headers=headers) as response,
    ):
        if response.status_code == 200:
            pytest.fail(f"a stream opened for {params}")
        await response.aread()
        return response


@asynccontextmanager
async def by_ticket(
    live: Live,
    ticket: str,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> AsyncIterator[Stream]:
    """A stream opened with a ticket and no Authorization header, as EventSource would."""
    async with (
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{live.port}", timeout=10) as http,
        http.stream(
            "GET", "/v1/stream", params={"ticket": ticket, **(params or {})}, headers=headers
        ) as response,
    ):
        assert "authorization" not in response.request.headers
        assert response.status_code == 200, await response.aread()
        opened = Stream(response)
        try:
            first = await opened.frame()
            assert first.id is not None
            assert first.event is None
            yield opened
        finally:
            await opened.close()


def _refused_as_unauthenticated(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    assert "ticket" in response.json()["detail"]


async def test_a_ticket_opens_one_stream_without_a_key_and_is_then_spent(
    live: Live, admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    await add_co_responder(admin, district="D1", call_sign="MCT-1")
    viewer = await admin.with_role("viewer")
    before = datetime.now(UTC)
    issued = await viewer.ok("POST", "/v1/stream/tickets", None, 201)
    assert issued["ticket"].startswith("cst_")
    assert issued["expires_in"] == TICKET_SECONDS
    expires_at = datetime.fromisoformat(issued["expires_at"])
    assert before < expires_at <= datetime.now(UTC) + timedelta(seconds=TICKET_SECONDS + 1)
    # Only its hash is kept.
    stored = await db.fetchval("SELECT digest FROM stream_ticket")
    assert bytes(stored) == hash_key(issued["ticket"])
    async with by_ticket(live, issued["ticket"]) as feed:
        call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        got = await feed.events(2)
        assert [f.event for f in got] == ["call.created", "recommendation.created"]
        assert body(got[0])["data"]["call_id"] == call["id"]
        # Spent on opening: a second stream (EventSource reconnecting) is refused.
        _refused_as_unauthenticated(await _get(live, {"ticket": issued["ticket"]}))
    assert await db.fetchval("SELECT count(*) FROM stream_ticket") == 0
    issued_entries = await db.fetch(
        "SELECT key_id, outcome FROM audit_entry WHERE action = 'stream_ticket.create'"
    )
    assert [r["outcome"] for r in issued_entries] == ["success"]


async def test_a_ticket_never_issued_or_past_its_time_opens_nothing(
    live: Live, admin: Api, db: asyncpg.Connection
) -> None:
    ticket = await _ticket(admin)
    await db.execute("UPDATE stream_ticket SET expires_at = now() - interval '1 second'")
    _refused_as_unauthenticated(await _get(live, {"ticket": ticket}))
    assert await db.fetchval("SELECT count(*) FROM stream_ticket") == 0  # gone all the same
    # Well formed, never issued: refused the same way, and recorded as a failed attempt.
    _refused_as_unauthenticated(await _get(live, {"ticket": "cst_" + "A" * 43}))
    failed = await db.fetchval("SELECT count(*) FROM audit_entry WHERE action = 'auth.failed'")
    assert failed == 2
    # Not shaped like a ticket: a 422 before any lookup.
    malformed = await _get(live, {"ticket": "cit_0123abcd_not-a-ticket"})
    assert malformed.status_code == 422
    assert malformed.json()["errors"][0]["loc"] == ["query", "ticket"]


async def test_a_spent_ticket_retried_locks_out_that_ticket_not_the_consoles_beside_it(
    live: Live, admin: Api
) -> None:
    """EventSource retries its spent ticket every few seconds: that must lock out the one
    ticket, not every console's live feed behind the same address."""
    spent = await _ticket(admin)
    async with by_ticket(live, spent):
        pass
    for _ in range(live.state.settings.auth_failure_limit):
        _refused_as_unauthenticated(await _get(live, {"ticket": spent}))
    locked = await _get(live, {"ticket": spent})
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0
    # Another console's ticket from the same address, and a key's request, still work.
    other = await admin.with_role("viewer")
    async with by_ticket(live, await _ticket(other)):
        pass
    assert (await other.get("/v1/units")).status_code == 200


async def test_a_ticket_dies_with_its_key_and_its_stream_ends_when_the_key_is_revoked(
    live: Live, admin: Api
) -> None:
    created = await admin.ok("POST", "/v1/api-keys", {"role": "viewer"}, 201)
    viewer = Api(admin.client, created["key"], admin.agency_id, admin.app)
    first, second = await _ticket(viewer), await _ticket(viewer)
    async with by_ticket(live, first) as feed:
        await admin.ok("DELETE", f"/v1/api-keys/{created['id']}", status=204)
        revoked_at = time.monotonic()
        ending = await asyncio.wait_for(feed.rest(), timeout=10)
        assert time.monotonic() - revoked_at < 5.0
    assert "event:" not in ending
    _refused_as_unauthenticated(await _get(live, {"ticket": second}))


async def test_what_is_refused_before_the_ticket_is_looked_at_does_not_spend_it(
    live: Live, admin: Api
) -> None:
    ticket = await _ticket(admin)
    refusals = [
        ({"ticket": ticket}, admin.headers, ("query", "ticket")),  # a key and a ticket
        ({"ticket": ticket, "types": "call.exploded"}, None, ("query", "types")),
        ({"ticket": ticket, "last_event_id": "nonsense"}, None, ("query", "last_event_id")),
        ({"ticket": ticket, "tiket": "x"}, None, ("query", "tiket")),
    ]
    for params, headers, loc in refusals:
        refused = await _get(live, params, headers)
        assert refused.status_code == 422, refused.text
        assert [list(loc)] == [e["loc"] for e in refused.json()["errors"]]
    async with by_ticket(live, ticket):
        pass  # still good for its one stream


async def test_a_full_instance_refuses_a_ticket_without_spending_it(live: Live, admin: Api) -> None:
    ticket = await _ticket(admin)
    async with contextlib.AsyncExitStack() as open_streams:
        for _ in range(MAX_STREAMS):
            await open_streams.enter_async_context(stream(live, admin))
        refused = await _get(live, {"ticket": ticket})
        assert refused.status_code == 503
        assert int(refused.headers["retry-after"]) > 0
    await slots_given_back(live)
    async with by_ticket(live, ticket):
        pass


async def test_a_ticket_resumes_after_last_event_id_given_in_the_query(
    live: Live, admin: Api
) -> None:
    await grid_districts(admin)
    await add_co_responder(admin, district="D1", call_sign="MCT-1")
    async with by_ticket(live, await _ticket(admin)) as feed:
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        first = await feed.event()
    assert first.id is not None
    await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    async with by_ticket(live, await _ticket(admin), {"last_event_id": first.id}) as feed:
        rest = await feed.events(3)
        await feed.nothing_for(0.3)
    assert [f.event for f in rest] == [
        "recommendation.created",
        "call.created",
        "recommendation.created",
    ]
    assert first.id not in [f.id for f in rest]
    # The header, where a client sends one, is the newer position: it wins over the query.
    newer = rest[1].id
    assert newer is not None
    async with by_ticket(
        live, await _ticket(admin), {"last_event_id": first.id}, {"Last-Event-ID": newer}
    ) as feed:
        assert [f.id for f in await feed.events(1)] == [rest[2].id]
        await feed.nothing_for(0.3)


async def test_a_ticket_acts_as_its_key_a_unit_s_and_another_agency_s(
    live: Live, admin: Api, other_admin: Api
) -> None:
    for api in (admin, other_admin):
        await grid_districts(api)
    co = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    await add_co_responder(other_admin, district="D1", call_sign="MCT-1")
    unit = await admin.with_role("unit", uuid.UUID(co))
    async with (
        by_ticket(live, await _ticket(unit)) as units_feed,
        by_ticket(live, await _ticket(other_admin)) as theirs,
    ):
        call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch", {})
        # The unit's terminal hears its assignment, not the intake before it.
        assigned = await units_feed.event()
        assert assigned.event == "unit.assigned"
        assert body(assigned)["data"]["responder_id"] == co
        await theirs.nothing_for(0.5)


async def test_housekeeping_removes_tickets_never_redeemed(
    admin: Api, db: asyncpg.Connection
) -> None:
    await _ticket(admin)
    await _ticket(admin)
    await db.execute(
        "UPDATE stream_ticket SET expires_at = now() - interval '1 second'"
        " WHERE digest = (SELECT digest FROM stream_ticket LIMIT 1)"
    )
    assert await housekeeping.purge_tickets(admin.app.state.cit) == 1
    assert await db.fetchval("SELECT count(*) FROM stream_ticket") == 1
