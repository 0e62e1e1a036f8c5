"""What an instance admits: at most CIT_MAX_IN_FLIGHT requests at work at once, and no
body over CIT_MAX_BODY_BYTES (pure ASGI middleware, outside the application's own)."""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.middleware import LONG_LIVED, Answer, header, send_problem

_NEVER_SHED = frozenset({"/livez"})
OVERLOADED: Answer = (
    503,
    "overloaded",
    "Server overloaded",
    "Too many requests are in progress on this instance; retry shortly",
    [(b"retry-after", b"1")],
)


class InFlightLimitMiddleware:
    """Shed a request at once with 503 and Retry-After when max_in_flight are already running.

    Those accepted then stay fast under overload, instead of every request queueing. The
    liveness probe is never shed. A live feed counts until its answer begins: an open
    stream waits, it does not work, and has a cap of its own (CIT_MAX_STREAMS).

    A request waiting on its client for the rest of its body does no work: once its waits
    add up to LEND_AFTER seconds, its place is lent back whenever it waits, and taken again
    when the body comes (or, if none is free then, the request is shed as a new one would
    be). Held for the whole wait, a client sending its body a byte at a time, no key
    needed, kept a place up to the body deadline, and 64 of them refused every agency's
    requests (a security review); counted per wait, one sending a byte every 0.4 s still
    did (review r2). Bodies that arrive with their request never wait that long.
    """

    def __init__(self, app: ASGIApp, *, max_in_flight: int) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in _NEVER_SHED:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            await send_problem(send, OVERLOADED)
            return
        self.in_flight += 1
        # holding: this request's place is counted; done: it no longer needs one (its
        # stream's answer began, or it ended); lent: given back while it waits on the client.
        holding, done, lent, shed, answering = True, False, False, False, False
        # Seconds it has waited on its client for its body so far.
        waited = 0.0
        streams = scope["path"] in LONG_LIVED
        loop = asyncio.get_running_loop()

        def release() -> None:
            nonlocal holding
            if holding:
                holding = False
                self.in_flight -= 1

        def lend() -> None:
            nonlocal lent
            if holding and not done:
                release()
                lent = True

        async def lending_receive() -> Message:
            nonlocal holding, lent, shed, waited
            if shed:
                return {"type": "http.disconnect"}
            # Lent once the waits on the client add up to LEND_AFTER (a client sending a
            # byte every few tenths of a second never waits that long at once); a message
            # already there is taken before the timer can run.
            timer = None
            if holding and not done:
                timer = loop.call_later(max(0.0, LEND_AFTER - waited), lend)
            began = loop.time()
            try:
                message = await receive()
            finally:
                waited += loop.time() - began
                if timer is not None:
                    timer.cancel()
            if lent:
                lent = False
                if message["type"] != "http.request":
                    return message  # the client left: nothing more to run for it
                if self.in_flight >= self.max_in_flight:
                    # Its body came while the instance is full: refused as a new request
                    # would be; the application hears the client leave.
                    shed = True
                    if not answering:
                        await send_problem(send, OVERLOADED)
                    return {"type": "http.disconnect"}
                self.in_flight += 1
                holding = True
            return message

        async def counted_send(message: Message) -> None:
            nonlocal answering, done
            if shed:
                return
            await send(message)
            if message["type"] == "http.response.start":
                answering = True
                if streams:
                    done = True
                    release()

        try:
            await self.app(scope, lending_receive, counted_send)
        finally:
            done = True
            release()


# How long, in all, a request may wait on its client for its body before its place is lent
# back whenever it waits.
LEND_AFTER = 0.5


class BodySizeLimitMiddleware:
    """Answer 413 before the body is parsed when it is larger than the limit."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _send_too_large(send, self.max_bytes)
            return

        received = 0
        response_started = False
        rejected = False

        async def limited_receive() -> Message:
            nonlocal received, rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Answer now and tell the app the client left; FastAPI would turn an
                    # exception raised here into a 400.
                    rejected = True
                    if not response_started:
                        await _send_too_large(send, self.max_bytes)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if rejected:
                return
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        await self.app(scope, limited_receive, guarded_send)


async def _send_too_large(send: Send, limit: int) -> None:
    detail = f"The request body is larger than {limit} bytes"
    await send_problem(send, (413, "payload-too-large", "Payload too large", detail, []))
