"""HTTP/1.1 pipelining through serve's protocol (app/api/protocol.py), against a small ASGI
app whose answers take the time a test needs: requests queued behind a slow answer keep
their deadlines for when they are read, and what will not be answered behind an answer
under way neither cuts it off nor leaves it to a reset (review r6)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from starlette.types import Receive, Scope, Send

from app.settings import Settings
from tests.helpers import read_for
from tests.live_server import lifespan, live_server

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 2.0
SLOW = 3.5  # an answer that takes longer than both deadlines
BIG = 16 * 1024 * 1024


async def _app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    if scope["path"] == "/big":
        body = b"x" * BIG
    elif scope["path"] == "/slow":
        await asyncio.sleep(SLOW)  # as a route that reads no body: never calls receive()
        body = b"slow"
    elif scope["path"] == "/begun":  # an answer begun, and ended a second later
        start = {"type": "http.response.start", "status": 200, "headers": []}
        await send(start)
        await send({"type": "http.response.body", "body": b"be", "more_body": True})
        await asyncio.sleep(1)
        await send({"type": "http.response.body", "body": b"gun"})
        return
    else:  # /echo
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return
            body += message["body"]
            more = message["more_body"]
        body = b"echo:" + body
    length = str(len(body)).encode()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", length)]}
    )
    await send({"type": "http.response.body", "body": body})


def _read_all(sock: socket.socket) -> tuple[bytes, OSError | None]:
    """Read until the end: what came, and the error that ended it (None for a clean end)."""
    data, error = b"", None
    sock.settimeout(5)
    try:
        while chunk := sock.recv(1 << 20):
            data += chunk
    except OSError as exc:
        error = exc
    return data, error


@pytest.fixture(scope="module")
def serve(settings: Settings) -> Iterator[int]:
    limits = settings.model_copy(
        update={"header_timeout_seconds": HEADER_TIMEOUT, "body_timeout_seconds": BODY_TIMEOUT}
    )
    with live_server(_app, limits) as port:
        yield port


def test_a_body_sent_on_time_behind_a_slow_answer_is_not_late(serve: int) -> None:
    """Its body deadline ran while uvicorn, which reads nothing behind an answer under way,
    had not read the rest: the request was dropped as too slow."""
    sock = socket.create_connection(("127.0.0.1", serve))
    with sock:
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.3)
        sock.sendall(b'POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n{"')
        time.sleep(0.3)
        sock.sendall(b'a": "b"}')
        data, _ = read_for(sock, SLOW + 2)
    assert data.count(b"HTTP/1.1 200") == 2, data
    assert data.endswith(b'echo:{"a": "b"}')


def test_headers_split_behind_a_slow_answer_are_not_late(serve: int) -> None:
    """The same for the headers of a request behind a whole one queued: both were lost."""
    sock = socket.create_connection(("127.0.0.1", serve))
    with sock:
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.3)
        sock.sendall(b"GET /echo HTTP/1.1\r\nHost: t\r\n\r\nGET /echo HTTP/1.1\r\n")
        time.sleep(0.3)
        sock.sendall(b"Host: t\r\n\r\n")
        data, _ = read_for(sock, SLOW + 2)
    assert data.count(b"HTTP/1.1 200") == 3, data


@pytest.mark.parametrize(
    "behind",
    [
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\nzz\r\n",
        b"GET /echo HTTP/1.1\r\nHost: t\r\nBad\x01Name: y\r\n",
    ],
    ids=["queued-body-malformed", "headers-malformed"],
)
def test_what_will_not_be_answered_behind_an_answer_times_nothing_out(
    serve: int, behind: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """The answer under way is given, then the connection closed; no deadline fired
    after, telling of a late request that was not (with a new request id)."""
    caplog.set_level(logging.WARNING, logger="cit_dispatch.server")
    sock = socket.create_connection(("127.0.0.1", serve))
    with sock:
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.3)
        sock.sendall(behind)
        data, closed = read_for(sock, SLOW + 1)
    assert data.startswith(b"HTTP/1.1 200"), data
    # It says it is the last, and the end follows (review r7: a client reading the answer
    # before the end would send its next request into a closing connection).
    assert b"connection: close" in data.lower()
    assert closed
    assert "malformed request" in caplog.text
    assert "timed out" not in caplog.text


def test_an_answer_given_before_the_close_is_not_cut_off_by_a_reset(serve: int) -> None:
    """Bytes not HTTP behind a request: its answer is given, then the connection closed.
    What the client sent meanwhile was left unread, and closing a socket with input unread
    resets it, which dropped the end of the answer."""
    sock = socket.create_connection(("127.0.0.1", serve))
    with sock:
        sock.sendall(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n\x01\x02 nonsense\r\n\r\n")
        time.sleep(0.3)
        sock.sendall(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(1.5)
        data, error = _read_all(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert (len(body), error) == (BIG, None)


def test_a_client_streaming_on_behind_an_answer_is_cut_off(serve: int) -> None:
    """What it sends behind the answer is dropped unread, up to a bound: past it, the
    connection closes at once rather than read for as long as the answer takes."""
    sock = socket.create_connection(("127.0.0.1", serve))
    with sock:
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n\x01\x02 nonsense\r\n\r\n")
        started = time.monotonic()
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            for _ in range(32):
                sock.sendall(b"y" * 8192)
        sock.settimeout(SLOW + 1)
        try:
            data = sock.recv(65536)
        except ConnectionResetError:  # closed with what it sent still arriving
            data = b""
    assert data == b""  # cut off, the slow answer never came
    assert time.monotonic() - started < SLOW


def test_a_connection_that_had_its_last_answer_does_not_hold_the_stop(settings: Settings) -> None:
    """Its answer given, it was left open for the client to leave while the server
    stopped (review r7): a stop waits for every connection. All it sent has left: it is
    closed at once."""
    limits = settings.model_copy(update={"header_timeout_seconds": HEADER_TIMEOUT})
    sock = None
    with live_server(_app, limits) as port:
        sock = socket.create_connection(("127.0.0.1", port))
        # Headers too slow behind the slow answer: it is the connection's last.
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\nGET /echo HTTP/1.1\r\n")
        data, _ = read_for(sock, SLOW + 0.5)
        assert data.startswith(b"HTTP/1.1 200"), data
        stopping = time.monotonic()
    stopped = time.monotonic() - stopping
    sock.close()
    assert stopped < 1.0, stopped


LOOPS = pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
NONSENSE = b"\x01\x02 nonsense\r\n\r\n"


def _read_slowly(
    sock: socket.socket,
    stop: Callable[[], None] | None = None,
    behind: bytes = NONSENSE,
) -> tuple[int, object]:
    """Ask for /big, with behind after it, and read on slowly (_read_on_slowly): the
    length of what follows the answer's head, and the error that ended the reading."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
    sock.sendall(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n" + behind)
    data, error = _read_on_slowly(sock, stop)
    return len(data.partition(b"\r\n\r\n")[2]), error


def _read_on_slowly(
    sock: socket.socket,
    stop: Callable[[], None] | None = None,
    writes: bytes = b"GET /x HTTP/1.1\r\n",
    pace: float = 0.05,
) -> tuple[bytes, OSError | None]:
    """Read 256 KiB every pace seconds (about 5 MB/s) until the end, writing writes (the
    start of another request) every half second, and calling stop after 0.3 s: what came,
    and the error that ended the reading (None for the server's clean end)."""
    data, error, started, sent = b"", None, time.monotonic(), 0
    sock.settimeout(10)
    try:
        while chunk := sock.recv(256 * 1024):
            data += chunk
            time.sleep(pace)
            if stop is not None and time.monotonic() - started > 0.3:
                stop()
                stop = None
            if time.monotonic() - started > 0.5 + sent * 0.5:
                sent += 1
                sock.sendall(writes)
    except OSError as exc:
        error = exc
    return data, error


@LOOPS
def test_a_slow_reader_gets_all_of_a_last_answer_while_it_sends_on(
    settings: Settings, loop: str
) -> None:
    """A timer closed the connection 2 s after the last answer was written, while the
    client had megabytes of it still to read: what it sent on made that close a reset,
    which cut the answer (review r8: 13 of 16 MiB)."""
    with live_server(_app, settings, loop) as port:
        sock = socket.create_connection(("127.0.0.1", port))
        with sock:
            assert _read_slowly(sock) == (BIG, None)


@LOOPS
@pytest.mark.parametrize("behind", [NONSENSE, b""], ids=["nonsense-behind", "plain"])
def test_a_slow_reader_gets_all_of_a_last_answer_when_the_server_stops(
    settings: Settings, loop: str, behind: bytes
) -> None:
    """The same when a stop begins meanwhile: the connection was closed at once (review
    r8), and, with nothing behind the answer, still was (review r9); then uvicorn's
    kept-alive timeout closed it while the answer was still on its way (review r10: its
    3 s here, when the answer has left the server's buffer, not the kernel's). A stop
    resets no connection."""
    server = live_server(_app, settings, loop, keep_alive=3)
    port = server.__enter__()
    stopping = threading.Thread(target=server.__exit__, args=(None, None, None))
    sock = socket.create_connection(("127.0.0.1", port))
    with sock:
        assert _read_slowly(sock, stopping.start, behind) == (BIG, None)
    stopping.join(timeout=30)
    assert not stopping.is_alive()


@pytest.mark.parametrize(
    ("later", "writes", "answer"),
    [
        (NONSENSE, b"GET /x HTTP/1.1\r\n", b"HTTP/1.1 400 "),
        # A header that never ends, a byte at a time.
        (b"GET /x HTTP/1.1\r\nX-Wait: a", b"a", b"HTTP/1.1 408 "),
    ],
    ids=["not-http", "headers-late"],
)
def test_a_400_or_408_after_an_answer_still_on_its_way_cuts_none_of_it(
    settings: Settings, later: bytes, writes: bytes, answer: bytes
) -> None:
    """The protocol's own answer was written behind the earlier one, then the connection
    closed at once: the client writing on made that a reset, cutting the earlier answer
    and the 400 (408) both (review r9). (The body deadline, which bounds how long an
    ended connection waits for its client to read, is left at its default here.)"""
    limits = settings.model_copy(update={"header_timeout_seconds": HEADER_TIMEOUT})
    with live_server(_app, limits) as port:
        sock = socket.create_connection(("127.0.0.1", port))
        with sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
            sock.sendall(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
            time.sleep(0.3)  # the answer written whole: in the buffers, on its way
            sock.sendall(later)
            data, error = _read_on_slowly(sock, writes=writes)
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert error is None
    assert rest[:BIG] == b"x" * BIG
    assert rest[BIG:].startswith(answer)
    assert rest.endswith(b"}")  # the problem's JSON, whole


@pytest.mark.parametrize(
    "request_",
    [
        b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n" + NONSENSE,
        b"GET /big HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        b"GET /big HTTP/1.0\r\n\r\n",
    ],
    ids=["nonsense-behind", "connection-close", "http-1.0"],
)
def test_a_client_that_reads_nothing_is_cut_off_at_the_body_deadline(
    serve: int, request_: bytes
) -> None:
    """Its connection, ended, waited for it to read the answer for good, with the answer
    in memory and its place under the connection cap (review r9: 10 such clients held
    160 MiB; r10: when the client asked for the end itself): the body deadline after its
    end, what is left is dropped."""
    sock = socket.create_connection(("127.0.0.1", serve))
    with sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
        sock.sendall(request_)
        time.sleep(BODY_TIMEOUT + 1)
        data, error = _read_all(sock)
    # What the kernel had taken still comes (with a reset, should the client have written
    # meanwhile); what the server still held is dropped.
    assert len(data) < BIG, error


@LOOPS
def test_a_slow_reader_of_a_kept_alive_answer_is_not_cut_off(settings: Settings, loop: str) -> None:
    """Idle past uvicorn's keep-alive timeout with its answer still on its way, the
    connection was ended, and the body deadline cut the answer a client was steadily
    reading (review r10): only a client that takes nothing for that long is."""
    limits = settings.model_copy(update={"body_timeout_seconds": BODY_TIMEOUT})
    with live_server(_app, limits, loop, keep_alive=1) as port:
        sock = socket.create_connection(("127.0.0.1", port))
        with sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
            sock.sendall(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
            # About 2.5 MB/s: 6.7 s for the answer, past the timeout and the deadline both.
            data, error = _read_on_slowly(sock, writes=b"", pace=0.1)
    assert (len(data.partition(b"\r\n\r\n")[2]), error) == (BIG, None)


def test_a_request_behind_an_answer_begun_before_a_stop_is_answered(settings: Settings) -> None:
    """The answer under way when the stop began could no longer say it was the last, but
    was taken for it: a request the client sent behind it was dropped unanswered (review
    r10). It is answered, as the last."""
    server = live_server(_app, settings)
    port = server.__enter__()
    stopping = threading.Thread(target=server.__exit__, args=(None, None, None))
    sock = socket.create_connection(("127.0.0.1", port))
    with sock:
        sock.sendall(b"GET /begun HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.3)
        stopping.start()
        time.sleep(0.2)
        sock.sendall(b"GET /echo HTTP/1.1\r\nHost: t\r\n\r\n")
        data, error = _read_all(sock)
    stopping.join(timeout=30)
    assert error is None
    assert data.count(b"HTTP/1.1 200") == 2, data
    begun, _, echo = data.partition(b"0\r\n\r\n")  # the first answer's last chunk
    assert begun.endswith(b"2\r\nbe\r\n3\r\ngun\r\n")
    assert b"connection: close" in echo.lower()
    assert echo.endswith(b"echo:")


def test_a_client_that_half_closes_gets_its_answer(serve: int) -> None:
    """A client that sends its request and then its end (a half-close, as `curl` may,
    or a shell's `nc -N`) had its connection closed by the loop at once, its answer
    never given, and left unbounded by any deadline (review r11; uvicorn #1264)."""
    sock = socket.create_connection(("127.0.0.1", serve))
    with sock:
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(SLOW + 5)
        data, error = _read_all(sock)
    assert error is None
    assert data.startswith(b"HTTP/1.1 200")
    assert data.endswith(b"slow")


def test_a_body_left_unread_after_an_early_answer_cuts_none_of_it(settings: Settings) -> None:
    """Answered before its body was read (a 401, a 404), the connection was closed with
    the rest of the body unread: a reset, which cut the answer (review r11)."""
    with live_server(_app, settings) as port:
        sock = socket.create_connection(("127.0.0.1", port))
        with sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
            # /big answers without reading the body it was sent.
            sock.sendall(b"POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: 20000\r\n\r\n{")
            time.sleep(0.3)
            sock.sendall(b" " * 19_999)
            data, error = _read_on_slowly(sock)
    assert (len(data.partition(b"\r\n\r\n")[2]), error) == (BIG, None)


def test_a_client_still_taking_its_answer_in_is_not_idle(settings: Settings) -> None:
    """uvicorn's kept-alive timeout ran from when the answer was written, not received:
    a client reading a large answer past it had the connection ended, and its next
    request dropped (review r11)."""
    with live_server(_app, settings, keep_alive=1) as port:
        sock = socket.create_connection(("127.0.0.1", port))
        with sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
            sock.sendall(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
            received, started = 0, time.monotonic()
            while received < BIG:  # about 3 s: past the 1 s timeout
                received += len(sock.recv(256 * 1024))
                time.sleep(0.05)
            assert time.monotonic() - started > 1.5
            sock.sendall(b"GET /echo HTTP/1.1\r\nHost: t\r\n\r\n")
            data, _ = read_for(sock, 2)
    assert data.endswith(b"echo:"), data[-200:]
