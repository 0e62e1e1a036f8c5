"""The HTTP protocol `serve` runs: uvicorn's httptools protocol (which `auto` picks), with
deadlines for slow clients, a cap on connections, and each connection's part of a graceful
stop.

uvicorn's own timeout covers only an idle kept-alive connection: a client that sends its
headers or its body a byte at a time holds its connection, and a file descriptor, forever.
This protocol adds:

- a header deadline, from the connection opening (or a kept-alive request's first byte) to
  the end of the headers;
- a body deadline, from the end of the headers to the end of the body;
- a cap on open connections: one beyond it is answered 503 as soon as its headers arrive
  (it gets at most a second for them), and closed.

A late request gets a 408 problem (or, if its answer has begun, just the close); a request
that is not HTTP, a 400. Answers written here carry the request id and the security
headers, like every other answer.

As the server stops (app/api/server.py), a connection whose request has not all arrived
keeps its deadlines to send the rest (GuardedProtocol.shutdown); every answer given after
the stop begins closes its connection. How a connection ends, cleanly and bounded, is
app/api/protocol_ending.py.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from typing import Any, cast

from starlette.types import Scope

from app import metrics
from app.api.middleware import (
    ANSWERED_BY_SERVER,
    Answer,
    new_request_id,
    request_id_of,
)
from app.api.protocol_answers import (
    BODY_LATE,
    HEADERS_LATE,
    MALFORMED,
    raw_answer,
    refuse,
)
from app.api.protocol_ending import BODY, HEADERS, IDLE, EndingProtocol

log = logging.getLogger("cit_dispatch.server")

_REFUSED_HEADER_TIMEOUT = 1.0
# What a connection marked to close after its answer may still send, dropped, before it is
# closed at once.
_DISCARD_MAX = 64 * 1024
# A connection on which nothing has arrived when the server begins to stop gets this long
# for its request to begin: one accepted from the kernel's queue has it there already,
# and one that sends nothing must not hold the stop for its whole header deadline.
_QUIET_AT_STOP = 1.0
# The phases of a request on a connection; and, for the deadline, the quiet one above.
_IDLE, _HEADERS, _BODY, _QUIET = IDLE, HEADERS, BODY, 3


def _nothing() -> None:
    pass


class GuardedProtocol(EndingProtocol):
    """uvicorn's httptools protocol with these limits (server.protocol_class sets them from
    the settings), and stopping, run when the server begins a graceful shutdown."""

    header_timeout = 10.0
    body_timeout = 30.0
    max_connections = 1000
    stopping: Callable[[], None] = staticmethod(_nothing)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        # Which of the request's phases the deadline bounds.
        self._deadline_for = _IDLE
        # Whether a request finished arriving in the read being handled.
        self._completed = False
        # When the request being read began to arrive (or the connection opened).
        self._arrived = time.perf_counter()

    def _arm(self, phase: int) -> None:
        self._disarm()
        if phase == _HEADERS:
            self._arrived = time.perf_counter()
            self._deadline = self.loop.call_later(self.header_timeout, self._headers_late)
        else:
            self._deadline = self.loop.call_later(self.body_timeout, self._body_late)
        self._deadline_for = phase

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._deadline_for = _IDLE

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            # Answer the request with 503 once its headers are in, rather than close before
            # reading it (which a client may see as a reset, not an answer).
            self.app = refuse
            self._deadline = self.loop.call_later(
                min(self.header_timeout, _REFUSED_HEADER_TIMEOUT), self._close
            )
            self._deadline_for = _HEADERS
        elif self._last_answer:  # accepted as the server stops
            self._arm_quiet()
        else:
            self._arm(_HEADERS)

    def _arm_quiet(self) -> None:
        """Close the connection if no request begins on it soon (the server is stopping)."""
        self._disarm()
        self._deadline = self.loop.call_later(min(self.header_timeout, _QUIET_AT_STOP), self._close)
        self._deadline_for = _QUIET

    def _unsupported_upgrade_warning(self) -> None:
        """An `Upgrade` this service has no protocol for is an ordinary request (ws="none"):
        uvicorn's two warnings a request, one of them telling to install a WebSocket
        library, are for a server that wanted one."""

    def shutdown(self) -> None:
        """The server is stopping: close the connection if it is idle between two requests;
        otherwise its request (begun, or not yet arrived on a new connection) may finish
        arriving within its deadlines, and is answered, and the connection closed after."""
        idle = self._phase == _IDLE and self.cycle is not None and self.cycle.response_complete
        if idle or (self._discarding and not self._answering()):  # its last answer is given
            self._end()
        else:
            self.answer_last()

    def answer_last(self) -> None:
        """The server stops: the connection ends after the answers it is owed."""
        self._end_after_the_answer()
        self.stopping()

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            self._discarded += len(data)
            if self._discarded > _DISCARD_MAX:  # a client streaming on: cut it off
                self._close()
            return
        self._completed = False
        super().data_received(data)
        if self._discarding:  # marked by what it just read: no deadline from now on
            return
        if self.pipeline:
            # A request is queued behind the answer under way: uvicorn stops reading (it
            # may read again before that answer ends, its queue bounding what it takes), so
            # no deadline runs on bytes it may not have read; the one of the request then
            # being read is armed when the last queued one starts (on_response_complete).
            self._disarm()
            return
        # Deadlines are set here, after the parser has seen the data: a request that arrives
        # whole in one read (the usual case) never costs a timer.
        phase = self._phase
        if phase == _IDLE:
            if self._completed:  # the app has the request: no deadline while it answers
                self._disarm()
            elif self._deadline is None and (self.cycle is None or self.cycle.response_complete):
                # Bytes, but no request begun (the parser skips a bare CRLF) and none being
                # answered: they cancel uvicorn's idle timer, so the header deadline runs,
                # else nothing would. (During an answer, a stray CRLF is ignored, as RFC
                # 9112 2.2 asks: uvicorn's idle timer starts once the answer ends.)
                self._arm(_HEADERS)
            # Else the deadline running stands: a CRLF a second must not hold a connection
            # (or, the quiet one, a stop) for ever.
        elif phase != self._deadline_for:
            self._arm(phase)

    def on_message_begin(self) -> None:
        self._phase = _HEADERS
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._phase = _BODY
        super().on_headers_complete()
        # No cycle for a WebSocket upgrade, which takes the connection over (serve runs
        # without a WebSocket protocol, ws="none": an upgrade is an ordinary request there).
        if self.cycle is not None:
            self.cycle.transport = cast(asyncio.Transport, self._ending)
            if self._last_answer:
                self._last(self.cycle)

    def on_message_complete(self) -> None:
        self._phase = _IDLE
        self._completed = True
        super().on_message_complete()

    def on_response_complete(self) -> None:
        if self._discarding:
            # The answer the connection was kept for is given: nothing queued behind it is
            # answered; the connection ends (_end: a FIN, what the client still sends read
            # and dropped, the close once all has left).
            self.pipeline.clear()
            super().on_response_complete()
            self._unset_keepalive_if_required()  # (armed again by uvicorn just now)
            self._end()
            return
        started = self._running
        super().on_response_complete()
        if self._running is not started and not self.pipeline and self._phase != _IDLE:
            # A queued request began, and reading resumed: the request still arriving has
            # its deadline from now.
            self._arm(self._phase)
        self._idle_left = self._idle_since = math.inf
        if self._phase != _IDLE and not self.pipeline:
            # A request is arriving (not queued): its header or body deadline runs, and
            # uvicorn's kept-alive timeout, just armed, would drop it as idle.
            self._unset_keepalive_if_required()
        cycle = self.cycle
        if cycle.response_complete and (
            # Answered before its body was read (e.g. 401): no waiting for the rest of it.
            cycle.more_body
            # The last (a stop, a half-close) began before it was known: it could not say so.
            or (self._last_answer and self._phase == _IDLE)
        ):
            self._end()

    def send_400_response(self, msg: str) -> None:
        # A body malformed (its chunks, say) while the application runs for the request: it
        # hears the client leave, and counts this answer as its own (not the one it then
        # sends into the void), with the request's id.
        running = self._phase == _BODY and self.cycle is not None
        request_id = request_id_of(self._scope()) if running else new_request_id()
        # One line, with the request id the answer carries (uvicorn's own line for it is
        # dropped: app/logs.py).
        log.warning("malformed request", extra={"error": msg, "request_id": request_id})
        if not running:
            if self._answering():
                # Not HTTP behind a request being answered (a live feed, or a request
                # pipelined with it): no 400 into that answer, nor one taken for it.
                self._close_after_the_answer()
            elif self._write_and_close(MALFORMED, request_id):
                self._count_unrouted(MALFORMED)
            return
        if self.pipeline:
            # Queued behind an earlier request's answer, still under way: no 400 into it,
            # which goes on; the connection closes after it.
            self._close_after_the_answer()
            return
        if self.cycle.response_started:
            # Its own answer began (a live feed reading a body, say): no 400 into the
            # middle of it; the connection ends.
            self._close()
            return
        self._scope()["state"][ANSWERED_BY_SERVER] = MALFORMED[0]
        self._write_and_close(MALFORMED, request_id)

    def _scope(self) -> Scope:
        """The scope of the request being read (uvicorn's, as the application gets it)."""
        return cast(Scope, self.scope)

    def _headers_late(self) -> None:
        self._deadline, self._deadline_for = None, _IDLE
        request_id = new_request_id()
        log.warning(
            "request headers timed out",
            extra={"seconds": self.header_timeout, "request_id": request_id},
        )
        if self._answering():  # behind a live feed, say: no 408 into its answer
            self._close_after_the_answer()
        elif self._write_and_close(HEADERS_LATE, request_id):
            self._count_unrouted(HEADERS_LATE)

    def _count_unrouted(self, answer: Answer) -> None:
        """Count an answer written before any route was chosen: its request's method and
        path never arrived whole (metrics' `other`, `unmatched`)."""
        metrics.count_request("", metrics.UNMATCHED, answer[0], time.perf_counter() - self._arrived)

    def _body_late(self) -> None:
        self._deadline, self._deadline_for = None, _IDLE
        log.warning("request body timed out", extra={"seconds": self.body_timeout})
        cycle = self.cycle
        if cycle is None or cycle.response_started:
            self._close()
            return
        request_id = request_id_of(self._scope())
        # The application may still be waiting for the body: it now hears a disconnect, and
        # anything it sends goes nowhere; its metrics count this answer, under its route.
        self._scope()["state"][ANSWERED_BY_SERVER] = BODY_LATE[0]
        cycle.disconnected = True
        cycle.message_event.set()
        self._write_and_close(BODY_LATE, request_id)

    def _write_and_close(self, answer: Answer, request_id: str) -> bool:
        """Write answer and close the connection; whether it was written (not if the
        connection was closing already)."""
        if self.transport.is_closing():
            return False
        self.transport.write(raw_answer(answer, request_id, self.server_state.default_headers))
        self._end()
        return True
