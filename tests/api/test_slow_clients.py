"""Slow, stuck and excess clients against the service in uvicorn, over real sockets.

The service runs in uvicorn as `serve` runs it (tests/live_server.py), with short limits
(1 s for headers, 2 s for a body, 30 connections, 4 requests in flight) so that each
deadline can be watched passing. The last test runs `cit-dispatch serve` itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY

from app.api.admission import LEND_AFTER
from app.api.app import create_app
from app.db import dsn
from app.encryption import generate_key
from app.settings import Settings
from tests.helpers import Api, read_for
from tests.live_server import live_server
from tests.ports import free_port
from tests.test_embedded_lifecycle import _wait_ready

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 2.0
MAX_CONNECTIONS = 30
MAX_IN_FLIGHT = 4
HEARTBEAT = 0.5
MARGIN = 1.5
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


@pytest.fixture(scope="module")
def serve(database_url: str, settings: Settings) -> Iterator[int]:
    limits = settings.model_copy(
        update={
            "header_timeout_seconds": HEADER_TIMEOUT,
            "body_timeout_seconds": BODY_TIMEOUT,
            "max_connections": MAX_CONNECTIONS,
            "max_in_flight": MAX_IN_FLIGHT,
            # A live feed whose client left with a request queued behind it is told at
            # its next write (uvicorn reads no more): soon, here.
            "stream_heartbeat_seconds": HEARTBEAT,
        }
    )
    with live_server(create_app(limits, database_url), limits) as port:
        yield port


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def _send(port: int, data: bytes) -> socket.socket:
    sock = _connect(port)
    sock.sendall(data)
    return sock


def _read_answer(sock: socket.socket, wait: float) -> tuple[int, dict[str, str], bytes, bool]:
    """Status, headers and body of the one answer, and whether the server then closed.

    The socket is closed after.
    """
    with sock:
        return _parse(sock, wait)


def _parse(sock: socket.socket, wait: float) -> tuple[int, dict[str, str], bytes, bool]:
    sock.settimeout(wait)
    data = b""
    closed = False
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                closed = True
                break
            data += chunk
    except TimeoutError:
        pass
    except ConnectionResetError:
        closed = True
    assert data, "no answer at all"
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body, closed


def _assert_problem(
    headers: dict[str, str], body: bytes, status: int, request_id: str | None = None
) -> None:
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(body)["status"] == status
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, name
    if request_id is None:
        assert headers.get("x-request-id")
    else:
        assert headers.get("x-request-id") == request_id


def _counted(status: int, method: str = "other", route: str = "unmatched") -> float:
    """cit_http_requests_total for the labels (the process's registry, which the service in
    this process counts in: a test reads how much it moved)."""
    labels = {"method": method, "route": route, "status": str(status)}
    return REGISTRY.get_sample_value("cit_http_requests_total", labels) or 0.0


def _trickle(sock: socket.socket, piece: bytes, seconds: float) -> None:
    """Send piece every 0.25 s for up to seconds, stopping when the server closes."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            sock.sendall(piece)
        except OSError:
            return
        time.sleep(0.25)


def test_headers_that_trickle_in_get_a_408_and_the_close_within_the_limit(serve: int) -> None:
    before = _counted(408)
    sock = _connect(serve)
    sock.sendall(b"GET /v1/units HTTP/1.1\r\nHost: t\r\n")
    _late_within(sock, b"X-Slow: a\r\n", HEADER_TIMEOUT)
    # Counted as every answer is, though no route ever saw the request.
    assert _counted(408) == before + 1


def _late_within(
    sock: socket.socket, piece: bytes, limit: float, request_id: str | None = None
) -> None:
    """Trickling piece, the request gets its 408 and the close within limit (and margins)."""
    started = time.monotonic()
    _trickle(sock, piece, limit + MARGIN)
    status, headers, body, closed = _read_answer(sock, MARGIN)
    assert time.monotonic() - started < limit + 2 * MARGIN
    assert status == 408
    _assert_problem(headers, body, 408, request_id)
    assert closed


@pytest.mark.parametrize("kept_alive", [False, True])
def test_empty_lines_that_trickle_in_get_a_408_and_the_close(serve: int, kept_alive: bool) -> None:
    """The parser skips a bare CRLF before a request without beginning one: each cancelled
    the header deadline (and, after an answer, uvicorn's idle timer), and a client sending
    one now and then held its connection, and a place under the cap, for ever (review)."""
    sock = _connect(serve)
    if kept_alive:
        sock.sendall(b"GET /livez HTTP/1.1\r\nHost: t\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
    _late_within(sock, b"\r\n", HEADER_TIMEOUT)


def test_a_body_that_trickles_in_gets_a_408_with_the_clients_request_id(
    serve: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cit_dispatch.access")
    late, void = (_counted(code, "POST", "/v1/calls") for code in (408, 400))
    sock = _connect(serve)
    sock.sendall(
        b"POST /v1/calls HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer cit_nothing_here\r\nX-Request-ID: slow-body-1\r\n"
        b"Content-Length: 1000\r\n\r\n{"
    )
    _late_within(sock, b" ", BODY_TIMEOUT, "slow-body-1")
    # The 408 is what was answered, under the route: not the 400 the application then
    # sent into the void, having heard the client leave.
    deadline = time.monotonic() + 5
    while _counted(408, "POST", "/v1/calls") == late and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _counted(408, "POST", "/v1/calls") == late + 1
    assert _counted(400, "POST", "/v1/calls") == void
    logged = [r for r in caplog.records if r.name == "cit_dispatch.access"]
    assert [
        getattr(r, "status", None) for r in logged if getattr(r, "path", None) == "/v1/calls"
    ] == [408]


def test_a_flood_of_stuck_connections_is_closed_and_the_service_answers_after(
    serve: int,
) -> None:
    socks = [_connect(serve) for _ in range(150)]
    for sock in socks[::2]:
        sock.sendall(b"GET /livez HTTP/1.1\r\nHost: t\r\n")  # never finished; the rest say nothing
    started = time.monotonic()
    for sock in socks:
        sock.settimeout(HEADER_TIMEOUT + 2 * MARGIN - (time.monotonic() - started))
        try:
            while sock.recv(65536):
                pass
        except ConnectionResetError:
            pass
        sock.close()
    assert time.monotonic() - started < HEADER_TIMEOUT + 2 * MARGIN
    assert httpx.get(f"http://127.0.0.1:{serve}/livez", timeout=5).status_code == 200


@pytest.mark.parametrize(
    ("request_line", "length", "status"),
    [(b"POST /v1/no-such-thing", 1000, 404), (b"POST /v1/calls", 100_000_000, 413)],
    ids=["no-route", "declared-too-large"],
)
def test_a_request_answered_before_its_body_is_read_has_its_connection_closed(
    serve: int, request_line: bytes, length: int, status: int
) -> None:
    # The answer (no route; a body declared over the limit) comes before the body is read,
    # and the client is not allowed to keep the connection by trickling the rest of it.
    sock = _connect(serve)
    sock.sendall(
        request_line + b" HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(length).encode() + b"\r\n\r\n{"
    )
    started = time.monotonic()
    _trickle(sock, b" ", 0.5)
    answered, headers, body, closed = _read_answer(sock, BODY_TIMEOUT + MARGIN)
    assert answered == status
    _assert_problem(headers, body, status)
    assert closed
    assert time.monotonic() - started < BODY_TIMEOUT  # at once, not at the body deadline


def test_connections_beyond_the_cap_get_a_quick_503(serve: int) -> None:
    held = [_connect(serve) for _ in range(MAX_CONNECTIONS)]
    try:
        for sock in held:
            sock.sendall(b"GET /livez HTTP/1.1\r\nHost: t\r\n")
        time.sleep(0.2)
        extra = _connect(serve)
        refused = _counted(503, "GET")
        started = time.monotonic()
        extra.sendall(b"GET /livez HTTP/1.1\r\nHost: t\r\nX-Request-ID: one-too-many\r\n\r\n")
        status, headers, body, closed = _read_answer(extra, 0.8)
        assert time.monotonic() - started < 0.8 + 0.5
        assert status == 503
        assert headers["retry-after"] == "1"
        _assert_problem(headers, body, 503)
        assert closed
        # Answered before the application saw it: counted, under no route.
        assert _counted(503, "GET") == refused + 1
    finally:
        for sock in held:
            sock.close()


async def test_requests_beyond_the_in_flight_limit_are_shed_at_once_with_503(
    serve: int, database_url: str
) -> None:
    async with (
        _places_taken(serve, database_url),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{serve}", timeout=5) as http,
    ):
        started = time.monotonic()
        shed = await http.get("/v1/units", headers={"X-Request-ID": "shed-1"})
        assert time.monotonic() - started < 0.5
        assert shed.status_code == 503
        assert shed.headers["retry-after"] == "1"
        _assert_problem(dict(shed.headers), shed.content, 503, "shed-1")
        assert json.loads(shed.content)["type"].endswith("/overloaded")
        # The liveness probe is never shed.
        assert (await http.get("/livez")).status_code == 200


_WAITING = "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'api_key'::regclass"


@contextlib.asynccontextmanager
async def _places_taken(serve: int, database_url: str) -> AsyncIterator[None]:
    """Every place in flight taken by a request running, each waiting on the database (its
    key's lookup, under a lock an operator's migration might hold), for the block; each
    answered 401 after it."""
    locker = await dsn.connect(database_url)
    hold = locker.transaction()
    await hold.start()
    await locker.execute("LOCK TABLE api_key IN ACCESS EXCLUSIVE MODE")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{serve}", timeout=15) as http:
        keys = [f"cit_{n:08x}_{'x' * 43}" for n in range(MAX_IN_FLIGHT)]
        held = [
            asyncio.create_task(http.get("/v1/units", headers={"Authorization": f"Bearer {key}"}))
            for key in keys
        ]
        try:
            for _ in range(200):
                if await locker.fetchval(_WAITING) >= MAX_IN_FLIGHT:
                    break
                await asyncio.sleep(0.05)
            else:
                pytest.fail(f"fewer than {MAX_IN_FLIGHT} requests came to wait on the lock")
            yield
        finally:
            await hold.rollback()
            await locker.close()
        assert [(await answer).status_code for answer in held] == [401] * MAX_IN_FLIGHT


@pytest.mark.parametrize("drip", [None, 0.25], ids=["stalled", "a-byte-every-quarter-second"])
def test_bodies_still_arriving_hold_no_place_among_the_requests_in_flight(
    serve: int, drip: float | None
) -> None:
    """A client sending its body a byte at a time, with no key, held a place in flight
    until the body deadline: a few dozen of them refused every agency's requests with 503
    for as long as they kept at it (a security review); one sending a byte more often than
    the lending's half second still did (review r2)."""
    slow = [_connect(serve) for _ in range(MAX_IN_FLIGHT * 2)]
    stop = threading.Event()

    def dripping() -> None:
        while drip is not None and not stop.wait(drip):
            for sock in slow:
                with contextlib.suppress(OSError):
                    sock.sendall(b" ")

    dripper = threading.Thread(target=dripping, daemon=True)
    try:
        for sock in slow:
            sock.sendall(
                b"POST /v1/calls HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100\r\n\r\n{"
            )
        dripper.start()
        time.sleep(LEND_AFTER + 0.6)
        started = time.monotonic()
        answered = [
            httpx.get(f"http://127.0.0.1:{serve}/v1/units", timeout=5).status_code for _ in range(3)
        ]
        assert time.monotonic() - started < 1.0
        assert answered == [401] * 3  # answered, not shed
    finally:
        stop.set()
        if dripper.is_alive():
            dripper.join(timeout=5)
        for sock in slow:
            sock.close()


async def test_a_body_that_comes_while_the_instance_is_full_is_shed_as_a_new_request(
    serve: int, database_url: str
) -> None:
    """A request whose place was lent back as it waited for its body does not run beyond
    the limit when the body comes."""
    waiting = _connect(serve)
    waiting.sendall(
        b"POST /v1/calls HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer cit_0badf00d_" + b"x" * 43 + b"\r\nContent-Length: 2\r\n\r\n{"
    )
    leaving = _connect(serve)
    leaving.sendall(
        b"POST /v1/calls HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Content-Length: 2\r\n\r\n{"
    )
    await asyncio.sleep(LEND_AFTER + 0.3)
    shed_before = _counted(503, "POST", "/v1/calls")
    async with _places_taken(serve, database_url):
        waiting.sendall(b"}")
        status, headers, body, _ = await asyncio.to_thread(_read_answer, waiting, 3)
        # One that leaves meanwhile was not shed: it left (no overload to count).
        leaving.close()
        await asyncio.sleep(0.3)
    assert status == 503
    assert json.loads(body)["type"].endswith("/overloaded")
    assert headers["retry-after"] == "1"
    assert _counted(503, "POST", "/v1/calls") == shed_before + 1


async def test_clients_that_leave_mid_body_still_count_while_their_requests_run(
    serve: int, database_url: str
) -> None:
    """A route that reads no body runs while its client is gone: it holds its place (a
    review: let go uncounted, a client leaving mid-body put work on the database past the
    limit)."""
    locker = await dsn.connect(database_url)
    hold = locker.transaction()
    await hold.start()
    try:
        await locker.execute("LOCK TABLE api_key IN ACCESS EXCLUSIVE MODE")
        for n in range(MAX_IN_FLIGHT * 3):
            with _connect(serve) as sock:
                sock.sendall(
                    b"GET /v1/units HTTP/1.1\r\nHost: t\r\n"
                    + f"Authorization: Bearer cit_{n:08x}_{'x' * 43}\r\n".encode()
                    + b"Content-Length: 5\r\n\r\n{"
                )
        await asyncio.sleep(LEND_AFTER + 0.5)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{serve}", timeout=5) as http:
            assert (await http.get("/v1/units")).status_code == 503
        assert await locker.fetchval(_WAITING) == MAX_IN_FLIGHT
    finally:
        await hold.rollback()
        await locker.close()


def test_malformed_http_gets_a_400_problem_with_the_headers_of_every_answer(serve: int) -> None:
    before = _counted(400)
    sock = _connect(serve)
    sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
    status, headers, body, closed = _read_answer(sock, 3)
    assert status == 400
    _assert_problem(headers, body, 400)
    assert closed
    assert _counted(400) == before + 1


@pytest.mark.parametrize("pause", [0.2, None], ids=["later", "in-the-same-read"])
def test_a_body_malformed_midway_is_answered_400_once_with_the_requests_id(
    serve: int, pause: float | None
) -> None:
    """The application, running for the request, heard the client leave and sent a 400 of
    its own into the void: both were counted, under two ids (a review); arriving with the
    headers, before the application had named the request, it got an id of its own
    (review r2)."""
    routed, unrouted = _counted(400, "POST", "/v1/calls"), _counted(400)
    sock = _connect(serve)
    head = (
        b"POST /v1/calls HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"X-Request-ID: bad-chunks-1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n"
    )
    bad = b"zz\r\nnot a chunk\r\n"
    if pause is None:
        sock.sendall(head + bad)
    else:
        sock.sendall(head)
        time.sleep(pause)
        sock.sendall(bad)
    status, headers, body, closed = _read_answer(sock, 3)
    assert status == 400
    _assert_problem(headers, body, 400, "bad-chunks-1")
    assert closed
    deadline = time.monotonic() + 5
    while _counted(400, "POST", "/v1/calls") == routed and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _counted(400, "POST", "/v1/calls") == routed + 1
    assert _counted(400) == unrouted


async def test_a_body_malformed_after_a_stream_began_ends_it_without_a_400_inside(
    serve: int, admin: Api, caplog: pytest.LogCaptureFixture
) -> None:
    """A 400 was written into the middle of a live feed already answered 200, and counted
    as the feed's answer (review r2)."""
    before = _counted(400, "GET", "/v1/stream")
    open_before = _streams_open()
    sock = _connect(serve)
    sock.sendall(
        b"GET /v1/stream HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
        + f"Authorization: Bearer {admin.key}\r\n\r\n".encode()
        + b"1\r\nx\r\n"
    )
    sock.settimeout(5)
    began = sock.recv(65536)
    assert began.startswith(b"HTTP/1.1 200 "), began
    sock.sendall(b"zz\r\nnot a chunk\r\n")
    rest = await asyncio.to_thread(_read_until_closed, sock)
    assert b"HTTP/1.1 400" not in rest
    await _streams_back_to(open_before)
    # Past the body deadline: no deadline of the closed connection fires after it.
    await asyncio.sleep(BODY_TIMEOUT + 0.5)
    assert _counted(400, "GET", "/v1/stream") == before
    assert "request body timed out" not in caplog.text


_UPGRADE = (
    b"GET /v1/stream HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
)


@pytest.mark.parametrize(
    "behind",
    [
        b"\x01\x02 nonsense\r\n\r\n",
        b"GET /v1/units HTTP/1.1\r\nHost: t\r\n",
        b'POST /v1/calls HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n{"',
        b"POST /v1/calls HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\nzz\r\n",
        _UPGRADE,
    ],
    ids=["not-http", "headers-late", "body-late", "body-malformed", "websocket-upgrade"],
)
async def test_nothing_behind_a_live_feed_is_answered_inside_it_nor_ends_it(
    serve: int, admin: Api, behind: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """A 400 for bytes that are not HTTP or a malformed body, a 408 for headers or a body
    that stopped coming, and uvicorn's WebSocket 403 were each written into the middle of
    a live feed's answer (reviews r3 to r5), or the feed cut off: its client read them as
    its events' text. The feed goes on; once its client leaves, it ends and gives its
    place back (it ran on, holding it: uvicorn told only the request queued behind it)."""
    before = _counted(400), _counted(408)
    open_before = _streams_open()
    sock = _connect(serve)
    sock.sendall(
        f"GET /v1/stream HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {admin.key}\r\n\r\n".encode()
    )
    sock.settimeout(5)
    assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
    sock.sendall(behind)
    rest, closed = await asyncio.to_thread(
        read_for, sock, max(HEADER_TIMEOUT, BODY_TIMEOUT) + MARGIN
    )
    assert b"HTTP/1.1 " not in rest, rest
    assert not closed  # the feed goes on
    assert b":" in rest  # its heartbeats
    assert (_counted(400), _counted(408)) == before
    sock.close()
    await _streams_back_to(open_before, wait=10 * HEARTBEAT + 3)
    # Told the connection was lost, not failing a write into it.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_request_followed_by_bytes_not_http_is_answered_then_closed(serve: int) -> None:
    """Its answer was cut off when the bytes behind it were not HTTP (review r5): a POST
    done, and never answered. Or, before, a 400 was taken for its answer."""
    sock = _connect(serve)
    sock.sendall(b"GET /livez HTTP/1.1\r\nHost: t\r\n\r\n\x01\x02 nonsense\r\n\r\n")
    answer, closed = await asyncio.to_thread(read_for, sock, 3.0)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 200 "), answer
    assert b"HTTP/1.1 400" not in answer
    assert closed


async def test_an_upgrade_is_an_ordinary_request_and_logs_nothing(
    serve: int, caplog: pytest.LogCaptureFixture
) -> None:
    """The service has no WebSocket route (ws="none"): each upgrade request, anyone's,
    logged two uvicorn warnings, one telling to install a WebSocket library (review r5)."""
    sock = _connect(serve)
    sock.sendall(
        b"GET /livez HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    )
    answer, _ = await asyncio.to_thread(read_for, sock, 1.0)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 200 "), answer
    assert [r.getMessage() for r in caplog.records if r.name.startswith("uvicorn")] == []


def _streams_open() -> float:
    return REGISTRY.get_sample_value("cit_streams_open") or 0.0


async def _streams_back_to(count: float, wait: float = 5.0) -> None:
    for _ in range(int(wait / 0.05)):
        if _streams_open() == count:
            return
        await asyncio.sleep(0.05)
    assert _streams_open() == count


def _read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    with sock, contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    return data


def test_cit_dispatch_serve_applies_the_header_deadline_from_its_environment(
    database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    env = {
        **os.environ,
        "CIT_DATABASE_URL": database_url,
        "CIT_DATA_KEY": generate_key(),
        "CIT_RUN_RELAY": "false",
        "CIT_ALERT_INTERVAL_SECONDS": "0",
        "CIT_LOG_LEVEL": "WARNING",
        "CIT_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
    }
    with log.open("wb") as sink:
        proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "app.cli", "serve", "--no-migrate", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=sink,
        )
    try:
        _wait_ready(f"http://127.0.0.1:{port}/livez", proc, log)
        sock = _connect(port)
        started = time.monotonic()
        sock.sendall(b"GET /v1/units HTTP/1.1\r\nHost: t\r\n")
        status, headers, body, closed = _read_answer(sock, HEADER_TIMEOUT + 2 * MARGIN)
        assert time.monotonic() - started < HEADER_TIMEOUT + 2 * MARGIN
        assert status == 408
        _assert_problem(headers, body, 408)
        assert closed
        # Its log says so once for each, with the request id the answer carried.
        status, bad, _, _ = _read_answer(_send(port, b"NOT HTTP AT ALL\r\n\r\n"), 3)
        assert status == 400
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    told = [(line["msg"], line.get("request_id")) for line in lines if line["level"] == "warning"]
    assert told == [
        ("request headers timed out", headers["x-request-id"]),
        ("malformed request", bad["x-request-id"]),
    ]
