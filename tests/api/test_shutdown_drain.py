"""SIGTERM under load resets no connection, and answers every request that began to arrive.

uvicorn's own shutdown closed its listening socket at once, and Linux reset each connection
queued on it that the server had not accepted yet (4 to 12 at each SIGTERM under 16 clients
opening a connection per request); and it closed, unanswered, a connection whose request had
begun to arrive without all its headers. Behind nginx, a CAD's POST got a 502 at each deploy.

The first test runs `cit-dispatch serve` under that load and signals it; the second holds
connections in the kernel's queue when the server stops, which no load can do every time.
"""

from __future__ import annotations

import asyncio
import collections
import http.client
import json
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
from starlette.types import Receive, Scope, Send

from app.api.server import Server, uvicorn_config
from app.cli.serving import api_socket
from app.settings import Settings
from tests.api.test_shutdown import _env, _read, _running, _wait_ready
from tests.helpers import Api, grid_districts
from tests.ports import free_port

CLIENTS = 16
ANSWERS_BEFORE_THE_SIGNAL = 100
WAIT = 60.0  # for anything that should take a moment: only a failure waits this long
REFUSED = "refused"


class _Load:
    """Clients on threads, each POSTing calls one after another, on a new connection each,
    until the server refuses a connection; what each request came to, counted."""

    def __init__(self, port: int, key: str) -> None:
        self.port, self.key = port, key
        self.outcomes: collections.Counter[int | str] = collections.Counter()
        self.created: list[str] = []
        self._lock = threading.Lock()

    @property
    def answered(self) -> int:
        with self._lock:
            return sum(n for outcome, n in self.outcomes.items() if isinstance(outcome, int))

    def run(self, client: int) -> None:
        for request in range(10_000):
            external_id = f"DRAIN-{client}-{request}"
            outcome = self._post(external_id)
            with self._lock:
                self.outcomes[outcome] += 1
                if outcome == 201:
                    self.created.append(external_id)
            if outcome == REFUSED:
                return

    def _post(self, external_id: str) -> int | str:
        """The answer's status, or what happened instead."""
        body = json.dumps({"district": "D1", "external_id": external_id})
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=WAIT)
        try:
            connection.request("POST", "/v1/calls", body, headers)
            response = connection.getresponse()
            response.read()
            return response.status
        except ConnectionRefusedError:
            return REFUSED
        except http.client.RemoteDisconnected:
            return "closed unanswered"
        except OSError as exc:  # a reset above all
            return type(exc).__name__
        finally:
            connection.close()


async def test_serve_stopping_under_load_resets_no_connection_and_answers_each_request_begun(
    database_url: str, settings: Settings, admin: Api, db: asyncpg.Connection, tmp_path: Path
) -> None:
    await grid_districts(admin)
    port = free_port()
    log = tmp_path / "serve.log"
    env = _env(
        database_url,
        settings,
        CIT_RUN_RELAY="false",
        CIT_SHUTDOWN_GRACE_SECONDS=str(WAIT),
        CIT_HEADER_TIMEOUT_SECONDS=str(WAIT),
    )
    load = _Load(port, admin.key)
    body = b'{"district": "D1", "external_id": "DRAIN-HALF"}'
    head = (
        b"POST /v1/calls HTTP/1.1\r\nHost: cit.test\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {admin.key}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    )
    async with _running(["serve", "--no-migrate", "--port", str(port)], env, log) as serve:
        await _wait_ready(port, serve, log)
        # Half its headers, sent before the load: the server has read them long before the
        # signal, and waits for the rest.
        half = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        half.sendall(head[: len(head) // 2])
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(CLIENTS) as threads:
            clients = [loop.run_in_executor(threads, load.run, n) for n in range(CLIENTS)]
            deadline = time.monotonic() + WAIT
            while load.answered < ANSWERS_BEFORE_THE_SIGNAL:
                assert time.monotonic() < deadline, (load.outcomes, _read(log))
                await asyncio.sleep(0.05)
            serve.send_signal(signal.SIGTERM)
            # Each client ends when a connection is refused: the listener is closed.
            await asyncio.wait_for(asyncio.gather(*clients), WAIT)
        half.sendall(head[len(head) // 2 :] + body)
        answer = await asyncio.to_thread(_read_until_closed, half)
        code = await asyncio.wait_for(serve.wait(), WAIT)

    outcomes = dict(load.outcomes)
    assert set(outcomes) <= {201, 503, REFUSED}, outcomes
    assert outcomes[REFUSED] == CLIENTS
    status, _, rest = answer.partition(b"\r\n")
    assert status.startswith(b"HTTP/1.1 201 "), answer
    assert b"\r\nconnection: close\r\n" in rest.lower()
    assert code == 0, _read(log)
    # Nothing was written that was not answered.
    written = await db.fetch("SELECT external_id FROM call WHERE external_id LIKE 'DRAIN-%'")
    assert sorted(r["external_id"] for r in written) == sorted([*load.created, "DRAIN-HALF"])


def _read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    with sock:
        sock.settimeout(WAIT)
        while chunk := sock.recv(65536):
            data += chunk
    return data


async def _hello(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "websocket":  # refused, as the service refuses one
        await send({"type": "websocket.close"})
        return
    if scope["path"] == "/slow":  # an answer that takes a while, as a live feed's does
        await asyncio.sleep(1.5)
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]}
    )
    await send({"type": "http.response.body", "body": b"hello"})


async def test_connections_queued_unaccepted_when_the_server_stops_are_answered_not_reset(
    settings: Settings,
) -> None:
    """The server's loop runs nothing between its start and its stop here, so every
    connection made meanwhile is still in the kernel's queue when the stop begins."""
    server, listener, port = await _started(settings)
    # Answered once and kept alive: closed at the stop, as idle.
    idle = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    idle.sendall(b"GET / HTTP/1.1\r\nHost: cit.test\r\n\r\n")
    first = b""
    while not first.endswith(b"hello"):
        chunk = await asyncio.to_thread(idle.recv, 65536)
        assert chunk, first
        first += chunk
    assert first.startswith(b"HTTP/1.1 200 ")
    assert b"connection: close" not in first.lower()

    request = b"GET / HTTP/1.1\r\nHost: cit.test\r\n\r\n"
    queued = [socket.create_connection(("127.0.0.1", port), timeout=WAIT) for _ in range(8)]
    for sock in queued:
        sock.sendall(request)
    half = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    half.sendall(request[:20])
    stopping = asyncio.create_task(server.shutdown(sockets=[listener]))
    await _until_refused(port)
    half.sendall(request[20:])
    await asyncio.wait_for(stopping, WAIT)

    for sock in [*queued, half]:
        answer = _read_until_closed(sock)
        assert answer.startswith(b"HTTP/1.1 200 "), answer
        assert b"\r\nconnection: close\r\n" in answer.lower()
        assert answer.endswith(b"\r\n\r\nhello")
    assert _read_until_closed(idle) == b""


async def _started(settings: Settings) -> tuple[Server, socket.socket, int]:
    """The server serve runs, serving _hello on a port of its own, started in this loop."""
    port = free_port()
    listener = api_socket("127.0.0.1", port)  # bound as serve binds it
    config = uvicorn_config(_hello, settings, "127.0.0.1", port)
    config.lifespan = "off"
    config.load()
    server = Server(config)
    server.lifespan = config.lifespan_class(config)
    await server.startup(sockets=[listener])
    return server, listener, port


async def test_a_connection_that_sends_nothing_does_not_hold_the_stop(settings: Settings) -> None:
    """Open and silent when the stop began, it was kept for its whole header deadline (up
    to the grace): any client could hold every deploy so. Now it has a moment for its
    request to begin (one from the kernel's queue has it there already), then is closed.
    A WebSocket upgrade sent in that moment is answered, as the ordinary request it is to
    a service without WebSocket routes (`ws="none"`), and its connection closed after."""
    slow = settings.model_copy(
        update={"header_timeout_seconds": WAIT, "shutdown_grace_seconds": WAIT}
    )
    server, listener, port = await _started(slow)
    silent = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    upgrading = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    # A bare CRLF begins no request (the parser skips it): it kept the connection open.
    blank = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    await asyncio.sleep(0.2)  # for the loop to accept them (either way, the same end)
    stopping = asyncio.create_task(server.shutdown(sockets=[listener]))
    blank.sendall(b"\r\n")
    upgrading.sendall(
        b"GET /ws HTTP/1.1\r\nHost: cit.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await asyncio.wait_for(stopping, WAIT / 2)  # not the header deadline, WAIT
    assert _read_until_closed(silent) == b""
    assert _read_until_closed(blank) == b""
    answer = _read_until_closed(upgrading)
    assert answer.startswith(b"HTTP/1.1 200 "), answer
    assert b"connection: close" in answer.lower()


async def test_a_stray_empty_line_during_an_answer_is_ignored(settings: Settings) -> None:
    """A client's CRLF after its request (RFC 9112 2.2: to be ignored) armed the header
    deadline while the app answered: a 408 was written into the answer (a live feed's
    among them) and the connection closed (review)."""
    brief = settings.model_copy(update={"header_timeout_seconds": 0.5})
    server, listener, port = await _started(brief)
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: cit.test\r\nConnection: close\r\n\r\n")
        await asyncio.sleep(0.1)
        sock.sendall(b"\r\n")
        answer = await asyncio.to_thread(_read_until_closed, sock)
        assert answer.startswith(b"HTTP/1.1 200 "), answer
        assert answer.endswith(b"\r\n\r\nhello")
    finally:
        await server.shutdown(sockets=[listener])


async def _until_refused(port: int) -> None:
    deadline = time.monotonic() + WAIT
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=WAIT).close()
        except ConnectionRefusedError:
            return
        assert time.monotonic() < deadline, "the server still accepts connections"
        await asyncio.sleep(0.01)
