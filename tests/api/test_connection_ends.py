"""How connections end through serve's protocol (app/api/protocol_ending.py) in the cases
review r12 found wrong: a client giving up in the middle of a request, a request arriving
while an answer is still being written, a reset on an idle connection, a slow reader of a
kept-alive answer, and an application still writing after the connection was ended."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import time
from collections.abc import Iterator

import pytest
from starlette.types import Receive, Scope, Send

from app.settings import Settings
from tests.helpers import read_for
from tests.live_server import lifespan, live_server, running_server

HEADER_TIMEOUT = 3.0
BODY_TIMEOUT = 3.0
LOOPS = pytest.mark.parametrize("loop", ["uvloop", "asyncio"])


class App:
    """Routes whose answers take the time a test needs; what each request's application
    heard of its client (a disconnect, or its body)."""

    def __init__(self) -> None:
        self.heard: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        path = scope["path"]
        if path == "/chunks":  # an answer written over a second and a half
            await send({"type": "http.response.start", "status": 200, "headers": []})
            for _ in range(15):
                await send({"type": "http.response.body", "body": b"c", "more_body": True})
                await asyncio.sleep(0.1)
            await send({"type": "http.response.body", "body": b""})
            return
        if path == "/big":
            body = b"x" * (16 * 1024 * 1024)
        elif path == "/late-read":  # reads its body a second after its headers
            await asyncio.sleep(1)
            body = await self._body(receive)
        else:  # /echo
            body = await self._body(receive)
        length = str(len(body)).encode()
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", length)]}
        )
        await send({"type": "http.response.body", "body": body})

    async def _body(self, receive: Receive) -> bytes:
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                self.heard.append(message["type"])
                return b""
            body += message["body"]
            more = message["more_body"]
        self.heard.append("body")
        return b"echo:" + body


@pytest.fixture
def asgi() -> App:
    return App()


@pytest.fixture(params=["uvloop", "asyncio"])
def serve(request: pytest.FixtureRequest, settings: Settings, asgi: App) -> Iterator[int]:
    limits = settings.model_copy(
        update={"header_timeout_seconds": HEADER_TIMEOUT, "body_timeout_seconds": BODY_TIMEOUT}
    )
    with live_server(asgi, limits, request.param, keep_alive=1) as port:
        yield port


def _heard_within(asgi: App, seconds: float) -> list[str]:
    deadline = time.monotonic() + seconds
    while not asgi.heard and time.monotonic() < deadline:
        time.sleep(0.02)
    return asgi.heard


@pytest.mark.parametrize("leaves", ["half-close", "close"])
def test_a_client_giving_up_in_the_middle_of_a_body_is_heard_leaving_at_once(
    serve: int, asgi: App, leaves: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The body can never come: the application was left waiting for the body deadline,
    and the client given a 408 saying its body was late (review r12)."""
    caplog.set_level(logging.WARNING, logger="cit_dispatch.server")
    sock = socket.create_connection(("127.0.0.1", serve))
    with sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nab")
        time.sleep(0.2)
        if leaves == "half-close":
            sock.shutdown(socket.SHUT_WR)
        else:
            sock.close()
        assert _heard_within(asgi, BODY_TIMEOUT / 2) == ["http.disconnect"]
        if leaves == "half-close":
            data, closed = read_for(sock, BODY_TIMEOUT / 2)
            assert (data, closed) == (b"", True)
    assert "timed out" not in caplog.text


def test_a_half_close_behind_an_answer_under_way_gets_that_answer_and_drops_the_rest(
    serve: int, asgi: App
) -> None:
    """The request whose headers had not all arrived is dropped; the answer under way is
    given whole, and the connection ends at once after it, not at a deadline."""
    sock = socket.create_connection(("127.0.0.1", serve))
    with sock:
        sock.sendall(b"GET /chunks HTTP/1.1\r\nHost: t\r\n\r\nGET /echo HTTP/1.1\r\nHo")
        time.sleep(0.3)
        sock.shutdown(socket.SHUT_WR)
        began = time.monotonic()
        data, closed = read_for(sock, HEADER_TIMEOUT + 2)
        took = time.monotonic() - began
    assert closed
    assert data.count(b"HTTP/1.1 ") == 1
    assert data.endswith(b"\r\n0\r\n\r\n")  # the chunked answer, to its end
    assert took < HEADER_TIMEOUT


def test_a_request_arriving_while_an_answer_is_written_is_not_dropped_as_idle(
    serve: int,
) -> None:
    """uvicorn's kept-alive timeout, armed as the answer ended, closed the connection on a
    request whose headers were still arriving well within their deadline (review r12)."""
    sock = socket.create_connection(("127.0.0.1", serve))
    with sock:
        sock.sendall(b"GET /chunks HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.3)
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\n")
        time.sleep(2.7)  # the answer ended 1.5 s ago; the keep-alive timeout is 1 s
        sock.sendall(b"Content-Length: 2\r\n\r\nhi")
        data, _ = read_for(sock, 2)
    assert data.count(b"HTTP/1.1 200") == 2, data
    assert data.endswith(b"echo:hi")


@LOOPS
def test_a_reset_on_an_idle_connection_leaves_nothing_to_fail(
    settings: Settings, asgi: App, loop: str, caplog: pytest.LogCaptureFixture
) -> None:
    """uvicorn cancels its kept-alive timeout only for a clean loss: after a reset it ran,
    and failed reading the closed socket's queue (review r12)."""
    caplog.set_level(logging.ERROR)
    with live_server(asgi, settings, loop, keep_alive=1) as port:
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nx")
        assert read_for(sock, 0.5)[0].endswith(b"echo:x")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # a reset
        time.sleep(2)  # past the keep-alive timeout
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


@LOOPS
def test_a_slow_reader_of_a_kept_alive_answer_is_held_no_longer_than_the_drain(
    settings: Settings, asgi: App, loop: str
) -> None:
    """Still taking the answer in, it kept its connection, and the answer in memory, for
    as long as it read on, where an ended connection's reader has at most DRAIN_LONGEST
    deadlines (review r12): after them, what the server still held is dropped."""
    limits = settings.model_copy(update={"body_timeout_seconds": 0.3})  # 3 s at the most
    with running_server(asgi, limits, loop, keep_alive=1) as server:
        sock = socket.create_connection(("127.0.0.1", server.config.port))
        with sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
            sock.sendall(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
            began, received = time.monotonic(), 0
            sock.settimeout(5)
            while time.monotonic() - began < 4.5:  # slowly, past the 3 s
                received += len(sock.recv(16384))
                time.sleep(0.2)
            held = len(server.server_state.connections)
    assert 0 < received < 16 * 1024 * 1024
    assert held == 0


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_a_100_continue_after_the_end_is_not_written(
    settings: Settings, asgi: App, loop: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A request asking `Expect: 100-continue` queued behind a large answer, and late: the
    connection ended (its 408 not written into the answer under way); its application,
    reading its body after, wrote the 100 Continue after the end, and failed (review r12)."""
    caplog.set_level(logging.ERROR)
    limits = settings.model_copy(update={"body_timeout_seconds": 0.5})
    with live_server(asgi, limits, loop) as port:
        sock = socket.create_connection(("127.0.0.1", port))
        with sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            sock.sendall(
                b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n"
                b"POST /late-read HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
                b"Content-Length: 5\r\n\r\n"
            )
            time.sleep(2.5)
            sock.settimeout(5)
            with contextlib.suppress(OSError):
                while sock.recv(1 << 20):
                    pass
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
