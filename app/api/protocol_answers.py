"""What the HTTP protocol (app/api/protocol.py) answers itself, outside any route: the
400, 408 and 503 problems, written as bytes or sent to a refused connection, and the
ending of a connection the server ends: its last answer's close, and the connection's
(Drain)."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import math
import struct
import termios
import time
from collections.abc import Callable
from typing import Any

from starlette.types import Receive, Scope, Send

from app import metrics
from app.api.middleware import Answer, new_request_id, problem_head, send_problem

log = logging.getLogger("cit_dispatch.server")

HEADERS_LATE: Answer = (
    408,
    "request-timeout",
    "Request timeout",
    "The request's headers did not arrive in time",
    [],
)
BODY_LATE: Answer = (
    408,
    "request-timeout",
    "Request timeout",
    "The request's body did not arrive in time",
    [],
)
TOO_MANY_CONNECTIONS: Answer = (
    503,
    "too-many-connections",
    "Too many connections",
    "This instance has too many open connections; retry shortly",
    [(b"retry-after", b"1")],
)
MALFORMED: Answer = (400, "bad-request", "Bad request", "The request is not valid HTTP/1.1", [])


def raw_answer(
    answer: Answer, request_id: str, default_headers: list[tuple[bytes, bytes]]
) -> bytes:
    """The whole HTTP/1.1 answer, as bytes to write, with the headers of every answer."""
    headers, body = problem_head(answer, request_id)
    status = answer[0]
    lines = [f"HTTP/1.1 {status} {REASONS[status]}\r\n".encode()]
    for name, value in [*default_headers, *headers]:
        lines.append(name + b": " + value + b"\r\n")
    lines.append(b"\r\n")
    return b"".join(lines) + body


REASONS = {400: "Bad Request", 408: "Request Timeout", 503: "Service Unavailable"}
# How often a connection told its end looks whether all it sent has left.
SENT_CHECK = 0.25


def unsent(transport: asyncio.BaseTransport) -> int:
    """Bytes of the answer not yet delivered: the transport's buffer, and (Linux) the
    kernel's send queue, what the client has not acknowledged (the end, FIN, included)."""
    size = buffered(transport)
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            queued = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
            size += struct.unpack("i", queued)[0]
        except (OSError, ValueError):  # not a socket the kernel reports on, or closed (-1)
            pass
    return size


class EndingTransport:
    """The transport as an answer that is its connection's last sees it: uvicorn closes it
    after the answer, which here hands the end to ended: the client is told the end (FIN)
    and the connection reads on (dropping what comes) until all it sent has left (Drain):
    a close with input unread is a reset, which cuts off what the client has not yet
    received of the answer."""

    def __init__(
        self,
        transport: asyncio.Transport,
        ended: Callable[[], None],
        written: Callable[[], None],
    ) -> None:
        self._transport = transport
        self._ended = ended
        self._written = written
        self._shut = False
        # Whether the answer writing is a live feed's, whose writes are watched (written).
        self.watched = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def shut(self) -> None:
        """The connection is ended: nothing more is written to it."""
        self._shut = True

    def write(self, data: bytes) -> None:
        if not self._shut:
            self._transport.write(data)
            if self.watched:
                self._written()

    def is_closing(self) -> bool:
        return self._shut or self._transport.is_closing()

    def close(self) -> None:
        self._ended()


def buffered(transport: asyncio.BaseTransport) -> int:
    """Bytes the transport holds, not yet handed to the kernel."""
    # (uvloop's transports are no asyncio.WriteTransport, but have the method.)
    size = getattr(transport, "get_write_buffer_size", None)
    return 0 if size is None else int(size())


# A client reading on, however slowly, keeps an ended connection this many times the
# deadline at most: one that trickles a byte at a time would hold it, and the answer in
# memory, for good.
DRAIN_LONGEST = 10
# An answer still being written waits this many body deadlines for its client to take some
# of it in (Stall): a client's progress shows only as the kernel's send queue is
# acknowledged, in steps of up to a segment (64 KiB on loopback), so a slow but steady
# reader can show none for a deadline (review r13: 3 KB/s, at the default 30 s).
STALL_DEADLINES = 3


class Watch:
    """Whether a client takes in what was sent to it: looks every SENT_CHECK at what is left
    (unsent), and calls stalled once it has taken nothing for `seconds` (or, from the start,
    `longest` has passed); stops when done(left) says so."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        transport: asyncio.Transport,
        seconds: float,
        longest: float = math.inf,
    ) -> None:
        self._loop = loop
        self._transport = transport
        self._seconds = seconds
        now = loop.time()
        self._stalled_at = now + seconds
        self._latest = now + longest
        # What is left now; the first look a SENT_CHECK later (none from the constructor,
        # whose caller has not yet the watch its callbacks speak of).
        self._left = unsent(transport)
        self._check: asyncio.TimerHandle | None = loop.call_later(SENT_CHECK, self._look)

    def done(self, left: int) -> bool:
        """Whether there is no more to watch, left bytes being unsent."""
        return False

    def stalled(self) -> None:
        """The client took nothing in time (or the longest has passed)."""
        self._transport.abort()

    def _look(self) -> None:
        self._check = None
        left = unsent(self._transport)
        if self.done(left):
            return
        now = self._loop.time()
        if left < self._left:  # the client takes it in
            self._stalled_at = now + self._seconds
        self._left = left
        if now >= min(self._stalled_at, self._latest):
            self.stalled()
        else:
            self._check = self._loop.call_later(SENT_CHECK, self._look)

    def by(self, latest: float) -> None:
        """End the watch by latest (the loop's time) at the latest."""
        self._latest = min(self._latest, latest)

    def cancel(self) -> None:
        """Nothing more to watch (the connection is gone, say): no more looks."""
        if self._check is not None:
            self._check.cancel()
            self._check = None


class Drain(Watch):
    """The close of a connection the server has ended (told the end, reading and dropping
    what comes): once all it sent has left; or at once, what is left dropped, once the
    client has taken nothing for `seconds` (DRAIN_LONGEST times that at the latest). A
    close() waits for the buffer to empty: a client that reads nothing would hold the
    connection, its buffer and a place under the connection cap for good."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, transport: asyncio.Transport, seconds: float
    ) -> None:
        super().__init__(loop, transport, seconds, seconds * DRAIN_LONGEST)

    def done(self, left: int) -> bool:
        if left == 0:
            self._transport.close()
            return True
        return False


class Stall(Watch):
    """An answer held up by its client (the transport paused above its high-water mark, the
    application waiting to write more; or a live feed's messages not taken in): once the
    client has taken nothing of it for `seconds`, stalled runs (the connection is cut off).
    A client that reads nothing would otherwise hold the application's task, the connection
    and a place under the connection cap (a live feed, its key's place too) for as long as
    it stays connected. A slow reader's every step puts the deadline back; once all is
    taken in, taken runs and the watch ends."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        transport: asyncio.Transport,
        seconds: float,
        stalled: Callable[[], None],
        taken: Callable[[], None],
    ) -> None:
        self._on_stall = stalled
        self._on_taken = taken
        super().__init__(loop, transport, seconds)

    def done(self, left: int) -> bool:
        if left == 0:
            self._on_taken()
            return True
        return False

    def stalled(self) -> None:
        self._on_stall()


async def refuse(scope: Scope, receive: Receive, send: Send) -> None:
    started = time.perf_counter()
    log.warning("connection refused: too many open connections")
    await send_problem(send, TOO_MANY_CONNECTIONS, request_id=new_request_id())
    # Answered before the application saw it: no route was chosen.
    metrics.count_request(
        scope["method"], metrics.UNMATCHED, TOO_MANY_CONNECTIONS[0], time.perf_counter() - started
    )
