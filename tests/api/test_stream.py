"""GET /v1/stream, the live feed, read over real sockets from the service in uvicorn.

httpx's ASGITransport buffers a whole answer, and a stream never ends: the feed is served
by uvicorn as `serve` runs it (tests/live_server.py), with a short heartbeat, a cap of four
streams, two requests in flight and a 1 s body deadline, while the test's data is written
through the shared app (or straight into the database).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.pool import QueuePool

from app.api.app import create_app
from app.api.server import uvicorn_config
from app.events.catalogue import TERMINAL_EVENTS
from app.ids import new_id
from app.repositories import stream as stream_repo
from app.repositories.stream import Position
from app.services import stream as stream_service
from app.services import stream_tail
from app.settings import Settings
from app.state import AppState
from tests.conftest import ServiceFactory
from tests.helpers import Api, add_co_responder, add_officer, grid_districts
from tests.live_server import live_server
from tests.ports import free_port
from tests.receiver import Receiver

HEARTBEAT = 0.4
MAX_STREAMS = 4


@dataclass
class Live:
    app: FastAPI
    port: int

    @property
    def state(self) -> AppState:
        state: AppState = self.app.state.cit
        return state


@pytest.fixture(scope="module")
def live(database_url: str, settings: Settings) -> Iterator[Live]:
    limits = settings.model_copy(
        update={
            "stream_heartbeat_seconds": HEARTBEAT,
            "max_streams": MAX_STREAMS,
            "max_in_flight": 2,
            "header_timeout_seconds": 1.0,
            "body_timeout_seconds": 1.0,
        }
    )
    app = create_app(limits, database_url)
    with live_server(app, limits) as port:
        yield Live(app, port)


def _lent(live: Live) -> int:
    """Connections the live app's pool has lent out now."""
    pool = live.state.engine.pool
    assert isinstance(pool, QueuePool)
    return pool.checkedout()


async def _settled(live: Live) -> None:
    """The pool lends out the one LISTEN connection, and nearly always nothing else (a
    stream checks its key every few seconds, in a moment)."""
    lent = []
    for _ in range(20):
        lent.append(_lent(live))
        await asyncio.sleep(0.05)
    assert lent.count(1) >= 15, lent


async def slots_given_back(live: Live) -> None:
    """Wait (up to 2.5 s) until closed streams have given their slots back."""
    for _ in range(50):
        if live.state.streams.taken == 0:
            return
        await asyncio.sleep(0.05)


@dataclass
class Frame:
    id: str | None = None
    event: str | None = None
    data: str | None = None
    comments: list[str] = field(default_factory=list)


class Stream:
    """An open stream's frames, read by a task of their own (a timeout while waiting for
    one must not close the response's line iterator)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines: asyncio.Queue[str | None] = asyncio.Queue()
        self._reading = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for line in self.response.aiter_lines():
                self._lines.put_nowait(line)
        finally:
            self._lines.put_nowait(None)

    async def close(self) -> None:
        self._reading.cancel()
        with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
            await self._reading

    async def rest(self) -> str:
        """Everything until the stream ends (it must end cleanly)."""
        lines = []
        while (line := await self._lines.get()) is not None:
            lines.append(line)
        await self._reading  # raises if the answer broke off
        return "\n".join(lines)

    async def frame(self, within: float = 5.0) -> Frame:
        """The next frame (a message, an id alone, or comments)."""
        frame = Frame()
        async with asyncio.timeout(within):
            while (line := await self._lines.get()) is not None:
                if line == "":
                    return frame
                if line.startswith(":"):
                    frame.comments.append(line[1:].strip())
                    continue
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "id":
                    frame.id = value
                elif name == "event":
                    frame.event = value
                elif name == "data":
                    frame.data = value  # one line: the body is compact JSON
        raise EOFError("the stream ended")

    async def event(self, within: float = 5.0) -> Frame:
        """The next message that carries an event."""
        deadline = time.monotonic() + within
        while True:
            frame = await self.frame(max(0.01, deadline - time.monotonic()))
            if frame.event is not None:
                return frame

    async def events(self, count: int, within: float = 5.0) -> list[Frame]:
        return [await self.event(within) for _ in range(count)]

    async def nothing_for(self, seconds: float) -> None:
        """No event arrives for that long (heartbeats may)."""
        try:
            frame = await self.event(seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected event {frame}")


@asynccontextmanager
async def stream(
    live: Live, api: Api, *, params: Any = None, last_event_id: str | None = None
) -> AsyncIterator[Stream]:
    headers = dict(api.headers)
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    async with (
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{live.port}", timeout=10) as http,
        http.stream("GET", "/v1/stream", params=params, headers=headers) as response,
    ):
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        opened = Stream(response)
        try:
            first = await opened.frame()  # the start position, before anything else
            assert first.id is not None
            assert first.event is None
            yield opened
        finally:
            await opened.close()


def body(frame: Frame) -> dict[str, Any]:
    assert frame.data is not None
    parsed: dict[str, Any] = json.loads(frame.data)
    assert parsed["type"] == frame.event
    assert set(parsed) == {"type", "timestamp", "data"}
    return parsed


async def test_events_arrive_live_as_a_call_is_created_and_dispatched(
    live: Live, admin: Api
) -> None:
    await grid_districts(admin)
    co = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    viewer = await admin.with_role("viewer")
    async with stream(live, viewer) as feed:
        call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        created = await feed.events(2)
        assert [f.event for f in created] == ["call.created", "recommendation.created"]
        assert all(body(f)["data"]["call_id"] == call["id"] for f in created)
        await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch", {})
        assigned = await feed.event()
        assert assigned.event == "unit.assigned"
        assert body(assigned)["data"]["responder_id"] == co
    ids = [f.id for f in [*created, assigned]]
    assert len(set(ids)) == 3


async def test_a_feed_messages_id_names_the_event_as_its_deliveries_event_id(
    live: Live, admin: Api, receiver: Receiver, service: ServiceFactory
) -> None:
    """The part of `id:` after the dot is the event's id: a console on the feed and a CAD
    reading the delivery log match an event by it (docs/api.md, "Live feed")."""
    await grid_districts(admin)
    hook = await admin.ok(
        "POST", "/v1/webhooks", {"url": receiver.url, "events": ["call.created"]}, 201
    )
    async with service(), stream(live, admin, params={"types": "call.created"}) as feed:
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        created = await feed.event()
        (received,) = await receiver.wait_for(1)
    assert created.id is not None
    position, _, event_id = created.id.partition(".")
    assert position.isdigit()
    (delivery,) = (await admin.ok("GET", f"/v1/webhooks/{hook['id']}/deliveries"))["items"]
    assert delivery["event_id"] == event_id
    # The webhook-id is the delivery's own id, not the event's.
    assert received.headers["webhook-id"] == delivery["id"] != event_id
    document = (await admin.ok("GET", "/openapi.json"))["components"]["schemas"]
    described = document["DeliveryOut"]["properties"]["event_id"]["description"]
    assert "the live feed's `id:`" in described


async def test_types_filters_the_stream_and_an_unknown_type_is_a_422(
    live: Live, admin: Api
) -> None:
    await grid_districts(admin)
    await add_co_responder(admin, district="D1", call_sign="MCT-1")
    async with stream(live, admin, params={"types": "recommendation.created"}) as feed:
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        assert [f.event for f in await feed.events(2)] == ["recommendation.created"] * 2
        await feed.nothing_for(0.5)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{live.port}") as http:
        refused = await http.get(
            "/v1/stream", params={"types": "call.created,call.exploded"}, headers=admin.headers
        )
        junk = await http.get(
            "/v1/stream", params={"types": "x" * 5000 + "\x00"}, headers=admin.headers
        )
        many = await http.get(
            "/v1/stream",
            params={"types": ",".join(f"call.typo{c}" for c in "abcdefgh")},
            headers=admin.headers,
        )
    assert refused.status_code == 422
    assert "call.exploded" in refused.text
    assert "call.created" in refused.json()["detail"]  # the feed's types are listed
    # Input is named cut and cleaned (test_an_unknown_type_is_named_as_sent_cut_and_cleaned).
    assert junk.status_code == 422
    assert "x" * 65 not in junk.text
    assert "call.typoe" in many.text  # the first five are named, the rest counted
    assert "call.typof" not in many.text
    assert "and 3 more" in many.json()["detail"]


async def test_an_unknown_type_is_named_as_sent_cut_and_cleaned(admin: Api) -> None:
    """`?types=bogus` was told "1 other value(s)": the console's developer could not see
    which value was wrong (an outside-in check). Each unknown value is named, quoted, as
    sent; a long one is cut, a control or invisible character is never echoed raw, and
    past the fifth they are counted, so no input can bloat or break the answer."""

    async def refused(types: str) -> str:
        response = await admin.get("/v1/stream", params={"types": types})
        assert response.status_code == 422, response.text
        problem = response.json()
        assert problem["errors"] == [{"loc": ["query", "types"], "msg": problem["detail"]}]
        assert len(response.content) < 3_000
        detail: str = problem["detail"]
        return detail

    bogus = await refused("call.created,bogus")
    assert bogus.startswith("Unknown event type 'bogus'; the feed's types are call.created,")
    long = await refused("x" * 5000 + "\x00")
    assert f"'{'x' * 64}…'" in long
    assert "x" * 65 not in long
    hidden = await refused("call.cre\u202eated\x1b[2J\x00")
    assert "'call.cre\\u202eated\ufffd[2J\ufffd'" in hidden
    assert not any(c in hidden for c in "\u202e\x1b\x00")
    # The escape typed reads apart from the mark: its backslash doubled, once.
    typed = await refused("call.cre\\u202eated")
    assert "'call.cre\\\\u202eated'" in typed
    many = await refused(",".join(f"t{i}" for i in range(2000)))
    assert many.startswith("Unknown event types 't0', 't1', 't2', 't3', 't4' and 1995 more;")
    nothing = await refused(", ,")
    assert nothing.startswith("No event type named: give one or more of call.created,")


@pytest.mark.parametrize(
    "invisible", ["\u3164", "\u115f", "\u034f", "\ufe0f", "\U000e0100", "\u200b"]
)
async def test_an_unknown_type_never_reads_as_a_known_one(admin: Api, invisible: str) -> None:
    """`?types=call.created` with a Hangul filler or a variation selector at its end was
    told "Unknown event type 'call.created'": repr escapes only what Python deems not
    printable, and these invisible characters were echoed as sent."""
    response = await admin.get("/v1/stream", params={"types": f"call.created{invisible}"})
    assert response.status_code == 422, response.text
    escaped = invisible.encode("unicode_escape").decode()
    detail = response.json()["detail"]
    assert detail.startswith(f"Unknown event type 'call.created{escaped}'; the feed's types")
    assert invisible not in response.text
    # A name given twice in a body is quoted by the same rule.
    twice = f'{{"call{invisible}": 1, "call{invisible}": 2}}'
    headers = {**admin.headers, "content-type": "application/json"}
    problem = (await admin.client.post("/v1/calls", content=twice, headers=headers)).json()
    assert problem["detail"] == (
        f"body: The body's JSON gives the name 'call{escaped}' twice in one object"
    )


async def _agency_positions(db: asyncpg.Connection, agency_id: uuid.UUID) -> list[str]:
    rows = await db.fetch(
        "SELECT xact_id, id FROM event WHERE agency_id = $1 ORDER BY xact_id, id", agency_id
    )
    return [f"{r['xact_id']}.{r['id']}" for r in rows]


async def test_resuming_with_last_event_id_skips_nothing_and_repeats_nothing(
    live: Live, admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    await add_co_responder(admin, district="D1", call_sign="MCT-1")
    async with stream(live, admin) as feed:
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        first = await feed.event()  # and leave before the second
    for _ in range(2):
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    seen = [first]
    async with stream(live, admin, last_event_id=first.id) as feed:
        seen += await feed.events(5)
        await feed.nothing_for(0.5)
    assert [f.id for f in seen] == await _agency_positions(db, admin.agency_id)
    assert [f.event for f in seen] == ["call.created", "recommendation.created"] * 3


async def test_a_feed_resuming_from_before_what_this_process_keeps_reads_the_rest(
    live: Live, admin: Api, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The agency's tail keeps only the latest events; a console back from a long outage
    reads the older ones from the database, then joins the others, in order."""
    monkeypatch.setattr(stream_tail, "RING", 2)  # trimmed to two past four
    await grid_districts(admin)
    await add_co_responder(admin, district="D1", call_sign="MCT-1")
    async with stream(live, admin) as watching:
        for _ in range(4):
            await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        seen = await watching.events(8)
        tail = stream_tail._tails(live.state)[admin.agency_id]
        first = Position.parse(seen[0].id or "")
        assert first is not None
        assert tail.since(first) is None  # no longer kept: the database it is
        async with stream(live, admin, last_event_id=seen[0].id) as resumed:
            assert [f.id for f in await resumed.events(7)] == [f.id for f in seen[1:]]
            await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
            then = await resumed.events(2)
            assert [f.id for f in then] == [f.id for f in await watching.events(2)]
            await resumed.nothing_for(0.3)
    assert [f.id for f in [*seen, *then]] == await _agency_positions(db, admin.agency_id)


async def test_a_console_resuming_as_its_agencys_tail_starts_gets_what_it_missed_at_once(
    live: Live, admin: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first feed of an agency starts its tail, whose first read (from now) finds no
    event. It woke no feed, so one resuming from before it (a console back after a restart
    or a quiet spell) waited for its next key check, seconds later, for what it had missed
    (outside-in check: 3 s). Here a feed not woken would miss the deadline by far."""
    monkeypatch.setattr(stream_tail, "IDLE_SECONDS", 0.1)
    # Heartbeats and key checks far off, as a feed's waits are bounded by both.
    monkeypatch.setattr(stream_service, "REVOKED_WITHIN", 60.0)
    quiet = live.state.settings.model_copy(update={"stream_heartbeat_seconds": 60.0})
    monkeypatch.setattr(live.state, "settings", quiet)
    await grid_districts(admin)
    async with stream(live, admin) as feed:
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        before = (await feed.event()).id
    for _ in range(100):  # the tail stops once no feed follows the agency
        if admin.agency_id not in stream_tail._tails(live.state):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the agency's tail never stopped")
    call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    async with stream(live, admin, last_event_id=before) as resumed:
        missed = await resumed.events(2, within=5.0)
    assert [f.event for f in missed] == ["recommendation.created", "call.created"]
    assert body(missed[1])["data"]["call_id"] == call["id"]


async def test_one_commit_is_read_once_however_many_feeds_follow_the_agency(
    live: Live, admin: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    await grid_districts(admin)
    await add_co_responder(admin, district="D1", call_sign="MCT-1")
    reads: list[uuid.UUID] = []
    finished: list[uuid.UUID] = []
    read_after = stream_repo.read_after

    async def counted(conn: Any, **kwargs: Any) -> stream_repo.Batch:
        reads.append(kwargs["agency_id"])
        try:
            return await read_after(conn, **kwargs)
        finally:
            finished.append(kwargs["agency_id"])

    monkeypatch.setattr(stream_repo, "read_after", counted)
    async with (
        stream(live, admin) as one,
        stream(live, admin) as two,
        stream(live, admin, params={"types": "call.created"}) as three,
    ):
        # The feeds' first reads are done, however slow the machine, and none is under way.
        deadline = time.monotonic() + 10
        while not finished or len(finished) != len(reads):
            assert time.monotonic() < deadline, "the feeds never finished their first read"
            await asyncio.sleep(0.02)
        reads.clear()
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        assert len(await one.events(2)) == len(await two.events(2)) == 2
        assert (await three.event()).event == "call.created"
    # One commit (call and recommendation together); a read that held an event back
    # while its transaction ended may add one more. Not one per feed.
    assert reads.count(admin.agency_id) in (1, 2), reads


async def _insert_event(
    conn: asyncpg.Connection, agency_id: uuid.UUID, event_id: uuid.UUID
) -> None:
    await conn.execute(
        "INSERT INTO event (id, agency_id, type, payload) VALUES ($1, $2, 'call.created', '{}')",
        event_id,
        agency_id,
    )


async def test_transactions_committing_out_of_order_are_neither_skipped_nor_repeated(
    live: Live, admin: Api, database_url: str
) -> None:
    """The earlier transaction (smaller xid, smaller event id) commits last: a reader that
    went by ids or transaction ids alone would pass over its event for good."""
    plain = database_url.replace("postgresql+asyncpg://", "postgresql://")
    early, late = await asyncpg.connect(plain), await asyncpg.connect(plain)
    try:
        async with stream(live, admin) as watching:
            first_id, second_id = new_id(), new_id()
            slow = early.transaction()
            await slow.start()
            await early.fetchval("SELECT pg_current_xact_id()")  # the smaller xid
            await _insert_event(early, admin.agency_id, first_id)
            async with late.transaction():
                await _insert_event(late, admin.agency_id, second_id)
            # Committed, but behind a transaction still running: not sent yet, to a feed
            # that is open nor to one that resumes now.
            await watching.nothing_for(0.6)
            async with stream(live, admin) as resumed_between:
                await resumed_between.nothing_for(0.3)
                await slow.commit()
                both = await watching.events(2)
                ids = [str(f.id) for f in both]
                assert [i.split(".", 1)[1] for i in ids] == [str(first_id), str(second_id)]
                assert [f.id for f in await resumed_between.events(2)] == [f.id for f in both]
            await watching.nothing_for(0.3)
        # Resuming after each of them gives exactly what followed it.
        async with stream(live, admin, last_event_id=both[0].id) as after_first:
            assert (await after_first.event()).id == both[1].id
            await after_first.nothing_for(0.3)
        async with stream(live, admin, last_event_id=both[1].id) as after_second:
            await after_second.nothing_for(0.3)
    finally:
        await early.close()
        await late.close()


async def test_a_unit_key_gets_exactly_what_its_terminals_webhook_gets(
    live: Live, admin: Api, receiver: Receiver, service: ServiceFactory, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    mine = await add_officer(admin, district="D1", call_sign="1A11", cit=True)
    other = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    hook = await admin.ok(
        "POST",
        "/v1/webhooks",
        {"url": receiver.url, "events": sorted(TERMINAL_EVENTS), "responder_id": mine},
        201,
    )
    unit = await admin.with_role("unit", uuid.UUID(mine))
    both = {"override_reason": "two units for the test"}
    async with service(), stream(live, unit) as feed:  # a relay of its own sends webhooks
        # A call the unit is sent to, updated while it is on it, then cleared.
        call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        units = [
            {"responder_type": "officer", "responder_id": mine, "role": "lead"},
            {"responder_type": "co_responder", "responder_id": other, "role": "support"},
        ]
        await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch", {"units": units, **both})
        await admin.ok("PATCH", f"/v1/calls/{call['id']}", {"safety": {"weapon": True}})
        await admin.ok("PUT", f"/v1/co-responders/{other}/status", {"status": "on_scene"})
        await admin.ok("PUT", f"/v1/officers/{mine}/status", {"status": "on_scene"})
        await admin.ok("POST", f"/v1/calls/{call['id']}/clear", {"disposition": "resolved"})
        # A call it is not on, updated: not its business.
        second = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        await admin.ok("PATCH", f"/v1/calls/{second['id']}", {"safety": {"weapon": True}})
        expected = await db.fetchval(
            "SELECT count(*) FROM webhook_delivery WHERE subscription_id = $1",
            uuid.UUID(hook["id"]),
        )
        # Its assignment, the call's update, its status, its release. No call.escalated:
        # it was sent to lead by override, and the weapon changes nobody's part.
        assert expected == 4
        streamed = await feed.events(expected)
        await feed.nothing_for(0.5)
        await receiver.wait_for(expected, within=10)
    webhooks = sorted(r.body for r in receiver.requests)
    assert sorted(f.data.encode() for f in streamed if f.data) == webhooks
    kinds = {f.event for f in streamed}
    assert {"unit.assigned", "call.updated", "unit.status_changed", "unit.released"} <= kinds
    assert "call.created" not in kinds
    assert all(json.loads(f.data or "")["data"].get("call_id") != second["id"] for f in streamed)


async def test_a_unit_key_naming_a_type_its_terminal_never_hears_is_a_422(
    live: Live, admin: Api
) -> None:
    """It was taken, and the stream stayed silent; a terminal's webhook with those types is
    a 422."""
    await grid_districts(admin)
    mine = await add_officer(admin, district="D1", call_sign="1A11")
    unit = await admin.with_role("unit", uuid.UUID(mine))
    async with (
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{live.port}") as http,
        http.stream(
            "GET",
            "/v1/stream",
            params={"types": "unit.assigned,call.created"},
            headers=unit.headers,
        ) as refused,
    ):
        assert refused.status_code == 422  # a stream taken never ends: its body is not read
        problem = json.loads(await refused.aread())
    assert problem["errors"][0]["loc"] == ["query", "types"]
    assert "call.created" in problem["detail"]
    assert "unit.assigned" not in problem["detail"]
    # The types it hears are taken, and the agency's own keys may name any type.
    async with stream(live, unit, params={"types": "unit.assigned"}) as feed:
        await feed.nothing_for(0.2)
    async with stream(live, admin, params={"types": "call.created"}) as feed:
        await feed.nothing_for(0.2)


async def test_another_agencys_events_never_appear(
    live: Live, admin: Api, other_admin: Api
) -> None:
    for api in (admin, other_admin):
        await grid_districts(api)
        await add_co_responder(api, district="D1", call_sign="MCT-1")
    async with stream(live, admin) as feed:
        theirs = await other_admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        ours = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        got = await feed.events(2)
        await feed.nothing_for(0.5)
    assert {body(f)["data"]["call_id"] for f in got} == {ours["id"]}
    assert theirs["id"] not in str([f.data for f in got])


async def test_a_revoked_key_s_stream_ends_within_5_seconds(live: Live, admin: Api) -> None:
    created = await admin.ok("POST", "/v1/api-keys", {"role": "viewer"}, 201)
    viewer = Api(admin.client, created["key"], admin.agency_id, admin.app)
    async with stream(live, viewer) as feed:
        await admin.ok("DELETE", f"/v1/api-keys/{created['id']}", status=204)
        revoked_at = time.monotonic()
        ending = await asyncio.wait_for(feed.rest(), timeout=10)
        assert time.monotonic() - revoked_at < 5.0
    assert "event:" not in ending


async def test_a_quiet_stream_gets_heartbeats_and_outlives_the_body_deadline(
    live: Live, admin: Api
) -> None:
    async with stream(live, admin) as feed:
        started = time.monotonic()
        beats = 0
        while time.monotonic() - started < 2.5:  # past the 1 s body deadline
            frame = await feed.frame(within=HEARTBEAT * 3)
            assert frame.event is None
            beats += frame.comments.count("keep-alive")
        assert beats >= 4
        await grid_districts(admin)
        await add_co_responder(admin, district="D1", call_sign="MCT-1")
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        assert (await feed.event()).event == "call.created"


async def test_open_streams_hold_no_connection_nor_request_slot_and_are_capped(
    live: Live, admin: Api, db: asyncpg.Connection
) -> None:
    async with (
        stream(live, admin) as first,
        stream(live, admin),
        stream(live, admin),
        stream(live, admin),
    ):
        # Four idle streams: the pool lends the one LISTEN connection, nothing else (once
        # the last stream's first read is over).
        await _settled(live)
        in_transaction = await db.fetch(
            "SELECT pid, state, query FROM pg_stat_activity WHERE usename = 'cit_app'"
            " AND state LIKE 'idle in transaction%'"
        )
        assert in_transaction == []
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{live.port}") as http:
            # Requests still run (two in flight at most, and four streams open)...
            units = await http.get("/v1/units", headers=admin.headers)
            assert units.status_code == 200, units.text
            # ...but a fifth stream is refused.
            refused = await http.get("/v1/stream", headers=admin.headers)
        assert refused.status_code == 503
        assert int(refused.headers["retry-after"]) > 0
        assert refused.headers["content-type"] == "application/problem+json"
        await grid_districts(admin)
        await add_co_responder(admin, district="D1", call_sign="MCT-1")
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        assert (await first.event()).event == "call.created"
        await _settled(live)
    await slots_given_back(live)
    async with stream(live, admin):
        pass


async def test_one_key_holds_at_most_its_share_of_the_streams_and_others_still_open(
    database_url: str,
    settings: Settings,
    admin: Api,
    other_admin: Api,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One viewer key of one agency opened every stream an instance serves, and the other
    agencies' consoles were refused theirs (a security review)."""
    caplog.set_level(logging.INFO, logger="cit_dispatch.access")
    limits = settings.model_copy(
        update={"max_streams": 6, "max_streams_per_key": 2, "stream_heartbeat_seconds": HEARTBEAT}
    )
    app = create_app(limits, database_url)
    with live_server(app, limits) as port:
        here = Live(app, port)
        viewer = await admin.with_role("viewer")
        async with (
            stream(here, viewer),
            stream(here, viewer),
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http,
        ):
            async with http.stream("GET", "/v1/stream", headers=viewer.headers) as refused:
                assert refused.status_code == 429
                assert refused.headers["retry-after"] == "5"
                assert refused.headers["content-type"] == "application/problem+json"
                assert "CIT_MAX_STREAMS_PER_KEY" in json.loads(await refused.aread())["detail"]
            # A ticket names its key only as it is spent: refused alike.
            ticket = (await viewer.ok("POST", "/v1/stream/tickets", None, 201))["ticket"]
            async with http.stream("GET", "/v1/stream", params={"ticket": ticket}) as by_ticket:
                assert by_ticket.status_code == 429
            # Its access line names the key the ticket was spent for.
            [line] = [r for r in caplog.records if getattr(r, "status", None) == 429][-1:]
            assert line.__dict__["key"] == viewer.key.removeprefix("cit_").split("_")[0]
            # Another agency's key, and another key of the same agency, open theirs.
            async with stream(here, other_admin), stream(here, admin):
                assert here.state.streams.taken == 4
        await slots_given_back(here)
        assert here.state.streams.held == {}
        async with stream(here, viewer), stream(here, viewer):
            pass


async def test_shutdown_ends_open_streams_cleanly_and_the_server_exits(
    database_url: str, settings: Settings, admin: Api
) -> None:
    app = create_app(settings, database_url)
    port = free_port()
    server = uvicorn.Server(uvicorn_config(app, settings, "127.0.0.1", port))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive()
        await asyncio.sleep(0.05)
    endings: list[str] = []
    async with stream(Live(app, port), admin) as one, stream(Live(app, port), admin) as two:
        started = time.monotonic()
        server.should_exit = True
        await asyncio.to_thread(thread.join, 10)
        assert not thread.is_alive(), "the server is still waiting for its open streams"
        assert time.monotonic() - started < 5
        for opened in (one, two):
            endings.append(await opened.rest())  # a clean end: no protocol error
    assert all("event:" not in ending for ending in endings)


async def test_an_event_kept_from_an_earlier_release_is_sent_and_replayed_as_documented(
    live: Live, admin: Api, receiver: Receiver, service: ServiceFactory, db: asyncpg.Connection
) -> None:
    """A unit.released stored before its call_sign (and reason) was added (as an earlier
    release wrote it, retried or replayed after the upgrade) went out without it, which the webhook
    document requires: the relay and the live feed send it null, which the document
    allows (app/events/stored.py)."""
    await admin.ok("POST", "/v1/webhooks", {"url": receiver.url, "events": ["unit.released"]}, 201)
    old = {
        "call_id": str(new_id()),
        "external_id": None,
        "responder_type": "officer",
        "responder_id": str(new_id()),
        "role": "lead",
        "status": "available",
    }
    async with service(), stream(live, admin, params={"types": "unit.released"}) as feed:
        await db.execute(
            "INSERT INTO event (id, agency_id, type, payload) VALUES ($1, $2, 'unit.released', $3)",
            new_id(),
            admin.agency_id,
            json.dumps(old),
        )
        replayed = await feed.event()
        (received,) = await receiver.wait_for(1)
    for body in (replayed.data or "", received.body.decode()):
        assert json.loads(body)["data"] == {**old, "call_sign": None, "reason": None}
