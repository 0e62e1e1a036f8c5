"""How a connection of serve's protocol ends (app/api/protocol.py adds the deadlines, the
connection cap and the stop): cleanly, and bounded.

Every close but a cut-off goes through `_end`: uvicorn's own (every answer writes through
the connection's EndingTransport: after a last answer, `Connection: close`, HTTP/1.0, a
stop; in the middle of one the app failed; at the kept-alive timeout), and the protocol's.
It tells the client the end (a FIN), reads and drops what comes, and closes once all it
sent has left (Drain): a close with input unread is a reset, which cuts off what the client
has not yet received. A client that takes nothing of what is left for the body deadline
(or still reads it DRAIN_LONGEST times that after) has the rest dropped. An answer still
being written is cut off once its client has taken none of it for STALL_DEADLINES body
deadlines (Stall): one that stops reading would hold the application's task for good.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from uvicorn._types import ASGI3Application
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from app.api.middleware import LONG_LIVED
from app.api.protocol_answers import (
    DRAIN_LONGEST,
    STALL_DEADLINES,
    Drain,
    EndingTransport,
    Stall,
    buffered,
    unsent,
)

log = logging.getLogger("cit_dispatch.server")

# Where a request on the connection is: none arriving, its headers arriving, its body
# (GuardedProtocol adds a quiet phase of its own).
IDLE, HEADERS, BODY = 0, 1, 2


class EndingProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, whose connections end cleanly and bounded. The
    deadlines are its subclass's (_disarm, _arm_quiet)."""

    body_timeout = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Where the current request is (GuardedProtocol's phases).
        self._phase = IDLE
        # The next answer is the last on this connection (the server stops, or the
        # client has sent all it will).
        self._last_answer = False
        # The request whose application runs (or ran last) on this connection.
        self._running: RequestResponseCycle | None = None
        # What arrives is dropped, unread, until the answer under way ends and the
        # connection with it (_close_after_the_answer); how much has been.
        self._discarding = False
        self._discarded = 0
        # Once ended: its close, once all it sent has left (_end).
        self._drain: Drain | None = None
        # What was left of the last answer to send when the kept-alive timeout last ran,
        # and when it first ran after that answer.
        self._idle_left = math.inf
        self._idle_since = math.inf
        # While an answer waits on its client to take in what it has sent (writing paused,
        # or a live feed's bytes unacknowledged): the deadline for the client to take some.
        self._stall: Stall | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # What every answer writes to (on_headers_complete): uvicorn's closes, after a last
        # answer (Connection: close, HTTP/1.0, a stop) or in the middle of one (the app
        # failed), end the connection as the server ends it (_end), bounded, and no reset.
        self._ending = EndingTransport(transport, self._end, self._feed_written)

    def _disarm(self) -> None:
        """Cancel the deadline running (GuardedProtocol's)."""

    def _arm_quiet(self) -> None:
        """End the connection if no request begins on it soon (GuardedProtocol's)."""

    def pause_writing(self) -> None:
        """The client takes in less than is sent: the answer waits, for at most
        STALL_DEADLINES body deadlines without any progress (Stall), not for as long as the
        client stays."""
        super().pause_writing()
        self._watch_the_client()

    def _feed_written(self) -> None:
        """A live feed wrote: its messages are small and far between, and a client that
        reads none of them would fill no buffer for hours, so what it has not taken in is
        watched from the first byte left unacknowledged (its own buffers full)."""
        if unsent(self.transport) > 0:
            self._watch_the_client()

    def _watch_the_client(self) -> None:
        if self._stall is None and self._drain is None and not self.transport.is_closing():
            seconds = self.body_timeout * STALL_DEADLINES
            self._stall = Stall(self.loop, self.transport, seconds, self._stalled, self._taken)

    def _taken(self) -> None:
        self._stall = None

    def resume_writing(self) -> None:
        self._unstall()
        super().resume_writing()

    def _unstall(self) -> None:
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None

    def _stalled(self) -> None:
        """The client took none of the answer for STALL_DEADLINES body deadlines: it is cut
        off, and the application, which hears it leave, stops writing."""
        self._stall = None
        log.warning(
            "answer not taken in by its client in time",
            extra={"seconds": self.body_timeout * STALL_DEADLINES},
        )
        self._close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._unstall()
        # (uvicorn cancels it only for a clean loss: after a reset it would still run.)
        self._unset_keepalive_if_required()
        if self._drain is not None:
            self._drain.cancel()
        running = self._running
        super().connection_lost(exc)
        if running is not None and running is not self.cycle and not running.response_complete:
            # A request is queued behind the one answering (a live feed, say): uvicorn
            # tells only the newest of the loss, and the feed would run on, holding its
            # place, until its next write failed.
            running.disconnected = True
            running.message_event.set()

    def _answering(self) -> bool:
        """Whether a request's answer is under way (or still to be written) here."""
        return self._running is not None and not self._running.response_complete

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        self._running = cycle
        self._ending.watched = cycle.scope["path"] in LONG_LIVED
        super()._start_asgi_task(cycle, app)

    def _close_after_the_answer(self) -> None:
        """What came behind the answer under way will not be answered (not HTTP, or too
        slow): end the connection once that answer ends (on_response_complete), rather than
        write into it or cut it off (a request answered, and so done, would go unanswered; a
        live feed would end). Meanwhile, and after, what arrives is read and dropped: the
        client leaving is seen at once (a feed ends), and the close is clean (input left
        unread makes it a reset, which can cut off the end of the answer); past
        _DISCARD_MAX, the connection is closed at once."""
        self._disarm()
        self._discarding = True
        self.flow.resume_reading()
        running = self._running
        if running is not None and not running.response_started:
            self._last(running)

    def _last(self, cycle: RequestResponseCycle) -> None:
        """Make cycle's answer, not begun, the connection's last: it says `Connection:
        close`, and uvicorn's close after it ends the connection (_end)."""
        cycle.keep_alive = False

    def _end_after_the_answer(self) -> None:
        """End the connection after the answer under way, or else the next one; one on
        which nothing has arrived yet, if nothing does soon."""
        self._last_answer = True
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            # One begun can no longer say so: the connection ends after it unless a
            # request comes behind it, which is then the last (on_headers_complete).
            if not cycle.response_started:
                self._last(cycle)
        elif self._phase == IDLE and self.transport is not None:
            self._arm_quiet()

    def eof_received(self) -> bool | None:  # type: ignore[override]
        """The client has sent all it will (a half-close, or its close: the two look
        alike): what it asked is answered, then the connection ends. True keeps it open for
        that: uvicorn's None had the loop close it at once, unbounded (a plain close) and
        cutting the answers (uvicorn #1264). A live feed, which answers for as long as its
        client stays, hears it leave, as before (None)."""
        running = self._running
        if running is not None and running.scope["path"] in LONG_LIVED:
            return None
        if self._phase != IDLE:
            # A request not all arrived never will: it is not answered (its application,
            # running or queued, hears the client leave), the answer under way is, then the
            # connection ends.
            arriving = self.cycle if self._phase == BODY else None
            if arriving is not None:
                arriving.disconnected = True
                arriving.message_event.set()
            if arriving is running or not self._answering():
                self._end()
            else:
                self._close_after_the_answer()
        elif self._answering():
            self._end_after_the_answer()
        else:
            self._end()
        return True

    def _end(self) -> None:
        """End the connection as every close the server decides but a cut-off (_close):
        told the end (FIN), reading and dropping what comes, closed once all it sent has
        left (Drain): a close with input unread is a reset, which cuts an answer's end. At
        once if all has left already."""
        if self.transport.is_closing() or self._drain is not None:
            return
        self._disarm()
        self._unset_keepalive_if_required()  # (its close would not wait for the drain)
        self._unstall()  # (the drain has its own deadline)
        # Nothing more is written: an application still running (for a request the
        # protocol answered itself, say) hears the client leave, and its writes, a 100
        # Continue among them, go nowhere rather than after the end.
        self._ending.shut()
        running = self._running
        if running is not None and not running.response_complete:
            running.disconnected = True
            running.message_event.set()
        if unsent(self.transport) == 0:
            self.transport.close()
            return
        self._discarding = True
        self.flow.resume_reading()
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._drain = Drain(self.loop, self.transport, self.body_timeout)

    def timeout_keep_alive_handler(self) -> None:
        """Idle for uvicorn's keep-alive timeout: ended (_end), where uvicorn's close() would
        wait for a client that may never read what is left of an answer, or reset one that
        reads it. A client still taking its last answer in is not idle yet: it runs again;
        from the first time, the last answer and its end (the drain's) have DRAIN_LONGEST
        body deadlines at most, after which what is left is dropped."""
        if self.transport.is_closing():  # (reset: the loss is on its way)
            return
        left = unsent(self.transport)
        now = self.loop.time()
        self._idle_since = min(self._idle_since, now)
        latest = self._idle_since + self.body_timeout * DRAIN_LONGEST
        if left > 0 and now >= latest:
            self._close()
        elif 0 < left < self._idle_left:
            self._idle_left = left
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )
        else:
            self._end()
            if self._drain is not None:  # (a pause in its reading does not start it over)
                self._drain.by(latest)

    def _close(self) -> None:
        """Cut the connection off at once: what is left of an answer is dropped."""
        self._disarm()  # (a deadline's own timer has fired: cancelling it does nothing)
        if buffered(self.transport):
            self.transport.abort()
        elif not self.transport.is_closing():
            self.transport.close()
