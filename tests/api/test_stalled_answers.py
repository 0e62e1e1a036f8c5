"""An answer held up by a client that takes none of it (app/api/protocol_ending.py, Stall):
the application waiting to write more is released at the body deadline, and the
connection cut off, where it waited for as long as the client stayed connected; a client
reading slowly is never cut off."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest
from starlette.types import Receive, Scope, Send

from app.api.protocol_answers import STALL_DEADLINES
from app.settings import Settings
from tests.live_server import lifespan, live_server

BODY_TIMEOUT = 1.0
STALLED = BODY_TIMEOUT * STALL_DEADLINES  # how long an answer waits on a client taking none
CHUNK = 256 * 1024
# Far more than the kernel's buffers and the transport's hold together.
CHUNKS = 4096

LOOPS = pytest.mark.parametrize("loop", ["uvloop", "asyncio"])


class Endless:
    """An answer written a chunk at a time (as the live feed writes its events) until its
    client leaves: when the application stopped, and how much it wrote."""

    def __init__(self) -> None:
        self.stopped = threading.Event()
        self.written = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        await receive()  # the request's (empty) body
        gone = asyncio.ensure_future(receive())  # http.disconnect, once the client has left
        await send({"type": "http.response.start", "status": 200, "headers": []})
        # The live feed's path: small messages, far between, as its events and heartbeats.
        feed = scope["path"] == "/v1/stream"
        chunk = b"data: an event\n\n" if feed else b"x" * CHUNK
        try:
            for _ in range(CHUNKS):
                if gone.done():
                    break
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                self.written += len(chunk)
                if feed:
                    await asyncio.sleep(0.02)
        finally:
            gone.cancel()
            self.stopped.set()


def _connect(port: int, path: str = "/endless", buffer: int = 64 * 1024) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffer)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    return sock


@LOOPS
def test_an_answer_its_client_takes_nothing_of_is_cut_off_at_the_body_deadline(
    settings: Settings, loop: str
) -> None:
    """Its application waited to write for as long as the client stayed connected, holding
    its task, the connection and a place under the connection cap (a live feed: its key's
    place too)."""
    app = Endless()
    limits = settings.model_copy(update={"body_timeout_seconds": BODY_TIMEOUT})
    with live_server(app, limits, loop) as port, _connect(port) as sock:
        began = time.monotonic()
        assert app.stopped.wait(STALLED * 4), "the answer waits on its client for good"
        waited = time.monotonic() - began
        assert waited >= STALLED  # the deadline counted from the last progress
        sock.settimeout(5)
        received, error = 0, None
        try:
            while chunk := sock.recv(1 << 20):
                received += len(chunk)
        except OSError as exc:
            error = exc
    # The connection was cut off: what the kernel had taken came, the rest never will.
    assert received < app.written, error
    assert app.written < CHUNK * CHUNKS


@LOOPS
def test_a_client_reading_an_answer_slowly_is_never_cut_off(settings: Settings, loop: str) -> None:
    """Each step it takes puts the deadline back: reading for twice the time an answer
    waits, far slower than it is written (about 80 KB/s, whose progress the kernel shows
    only a segment at a time: review r13 saw a slower reader cut at one deadline), it is
    still being answered."""
    app = Endless()
    limits = settings.model_copy(update={"body_timeout_seconds": BODY_TIMEOUT})
    with live_server(app, limits, loop) as port, _connect(port) as sock:
        sock.settimeout(5)
        received = 0
        end = time.monotonic() + STALLED * 2
        while time.monotonic() < end:
            received += len(sock.recv(8 * 1024))
            time.sleep(0.1)
        assert not app.stopped.is_set()
        received += len(sock.recv(8 * 1024))  # still answered
    assert received > STALLED * 2 * 40 * 1024


@LOOPS
def test_a_live_feed_its_client_reads_none_of_is_cut_off_long_before_its_buffers_fill(
    settings: Settings, loop: str
) -> None:
    """Its messages are small and far between: the transport's buffer, from which a stall
    was first seen, would fill after hours, and the client kept its feed's place till then
    (review r13: a second feed of the key was a 429 all along)."""
    app = Endless()
    limits = settings.model_copy(update={"body_timeout_seconds": BODY_TIMEOUT})
    with live_server(app, limits, loop) as port, _connect(port, "/v1/stream", 4096):
        assert app.stopped.wait(STALLED * 4), "the feed waits on its client for good"
    assert app.written < 1024 * 1024


@LOOPS
def test_a_live_feed_read_as_it_comes_is_never_cut_off(settings: Settings, loop: str) -> None:
    app = Endless()
    limits = settings.model_copy(update={"body_timeout_seconds": BODY_TIMEOUT})
    with live_server(app, limits, loop) as port, _connect(port, "/v1/stream", 4096) as sock:
        sock.settimeout(5)
        end = time.monotonic() + STALLED * 2
        while time.monotonic() < end:
            assert sock.recv(4096)
        assert not app.stopped.is_set()
