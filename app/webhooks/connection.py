"""One HTTP/1.1 connection of the relay's sender (app/webhooks/sender.py): h11 over a stream
of the network backend, one POST at a time, and the answer it reads."""

from __future__ import annotations

import asyncio
import select
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import h11
import httpcore

# How long the body of an answer is read after its status line, to keep the connection.
BODY_GRACE = 2.0
# How much earlier than the attempt's own deadline the body's reading ends, so that the
# answer is returned before the attempt is cut off.
ANSWER_MARGIN = 0.05


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    retry_after: str | None


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class Connection:
    """One HTTP/1.1 connection: h11 over a stream of the network backend, one exchange at a
    time. httpcore's own connection class cost about three times as much CPU per POST (its
    locks, cancellation shields and trace hooks for every step), and the relay needs none of
    what they are for: a connection here is only ever used by one POST at a time."""

    def __init__(self, stream: httpcore.AsyncNetworkStream, keepalive: float) -> None:
        self.stream = stream
        self.keepalive = keepalive
        self.protocol = h11.Connection(h11.CLIENT)
        self.idle_since = time.monotonic()
        # A socket, or the transport's stand-in for one: select() needs only its fileno().
        raw = stream.get_extra_info("socket")
        self._socket = raw if callable(getattr(raw, "fileno", None)) else None

    def has_expired(self) -> bool:
        """Idle too long, or the receiver has closed it (or sent what it should not have):
        an idle connection's socket is readable only then."""
        if time.monotonic() - self.idle_since > self.keepalive:
            return True
        if self._socket is None:
            return False
        try:
            readable, _, _ = select.select([self._socket], [], [], 0)
        except (OSError, ValueError):  # closed under us
            return True
        return bool(readable)

    async def exchange(
        self,
        request: h11.Request,
        body: bytes,
        *,
        step_seconds: float,
        body_cap: int,
        sending: Callable[[], object] | None,
        finish_by: float | None = None,
    ) -> tuple[Answer, bool]:
        """Send the POST, read the answer (its body up to body_cap, dropped); the answer,
        and whether the connection may take another POST.

        Once the status line is in, the answer is known: the body is read only so that the
        connection may be kept, for at most BODY_GRACE seconds and not past finish_by (the
        loop's time the attempt must end by). A body slower than that, or cut short (the
        receiver closing or resetting the connection), closes the connection, and the
        answer stands: a 200 whose body trickled in was taken for no answer, and the event
        sent again."""
        protocol = self.protocol
        try:
            out = protocol.send(request) or b""
            out += protocol.send(h11.Data(data=body)) or b""
            out += protocol.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError as exc:
            raise httpcore.LocalProtocolError(str(exc)) from exc
        if sending is not None:
            sending()  # from here on the receiver may act on it
        await self.stream.write(out, timeout=step_seconds)
        status, retry_after, read = 0, None, 0
        body_by: float | None = None  # set once the status line is in
        loop = asyncio.get_running_loop()
        while True:
            try:
                event = protocol.next_event()
            except h11.RemoteProtocolError as exc:
                if body_by is not None:  # the body cut short: the answer stands
                    return Answer(status, retry_after), False
                raise httpcore.RemoteProtocolError(str(exc)) from exc
            if event is h11.NEED_DATA:
                wait = step_seconds if body_by is None else body_by - loop.time()
                if wait <= 0:
                    return Answer(status, retry_after), False
                try:
                    data = await self.stream.read(65536, timeout=min(wait, step_seconds))
                except (httpcore.ReadTimeout, httpcore.ReadError):
                    # Slow, or the connection reset, after the status line: the answer
                    # stands, and the connection is not kept.
                    if body_by is None:
                        raise
                    return Answer(status, retry_after), False
                protocol.receive_data(data)
            elif isinstance(event, h11.Response):
                status = event.status_code
                retry_after = _header(event.headers, b"retry-after")
                body_by = loop.time() + BODY_GRACE
                if finish_by is not None:
                    body_by = min(body_by, finish_by)
            elif isinstance(event, h11.Data):
                read += len(event.data)
                if read > body_cap:
                    return Answer(status, retry_after), False
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                if body_by is not None:
                    return Answer(status, retry_after), False
                raise httpcore.RemoteProtocolError("the receiver closed the connection")
        reusable = protocol.our_state is h11.DONE and protocol.their_state is h11.DONE
        if reusable:
            protocol.start_next_cycle()
            self.idle_since = time.monotonic()
        return Answer(status, retry_after), reusable

    async def aclose(self) -> None:
        await self.stream.aclose()
