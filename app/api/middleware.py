"""Pure ASGI middleware: request id, access log, metrics, security headers, a shutdown's
cut-short answer, HEAD (the in-flight and size limits: app/api/admission.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Sequence

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import cache, metrics
from app.errors import PROBLEM_BASE
from app.logs import request_id_var

access_log = logging.getLogger("cit_dispatch.access")
# Set in the request's scope["state"] by the HTTP protocol (app/api/protocol.py) when it
# answered the request itself (a 408: its body too slow) while the application ran on:
# that status, not the one the application then sent into the void, is what was answered.
ANSWERED_BY_SERVER = "answered_by_server"
# Set there by authentication (app/api/callers.py): the public prefix of the request's key.
KEY_PREFIX = "key_prefix"
_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestContextMiddleware:
    """Give every request an id (X-Request-ID, echoed back) and write one access log line."""

    def __init__(self, app: ASGIApp, *, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        # Cache refreshes this request sets off start once its answer has begun (app/cache.py).
        holding = cache.hold_refreshes()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
                await send(message)
                cache.release_refreshes()
                return
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            cache.end_hold(holding)
            # Path only, never the query string or body: neither may carry sensitive text here.
            state = scope["state"]
            client = scope.get("client")
            access_log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    # The route's template (null: none matches), as the metrics count it.
                    "route": route_template(scope, self.routes),
                    "status": state.get(ANSWERED_BY_SERVER, status),
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    # The client's address (behind a trusted proxy, as it forwarded it) and
                    # the public prefix of the key that authenticated (null: none did).
                    "client": client[0] if client else None,
                    "key": state.get(KEY_PREFIX),
                },
            )
            request_id_var.reset(token)


class MetricsMiddleware:
    """Count every answer (cit_http_requests_total) and time it
    (cit_http_request_duration_seconds) under its route's template, never its raw path.

    It sits outside everything, so refusals written by middleware (503 when overloaded,
    413) count too: such a request never reached the router, so its route is looked up here.
    A live feed is timed to its headers; its open time is not a request's latency.
    """

    def __init__(self, app: ASGIApp, *, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers_at: float | None = None
        status = 500
        long_lived = scope["path"] in LONG_LIVED

        async def send_counted(message: Message) -> None:
            nonlocal status, headers_at
            if message["type"] == "http.response.start":
                status = message["status"]
                if long_lived:
                    headers_at = time.perf_counter()
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            seconds = (headers_at or time.perf_counter()) - started
            status = scope.get("state", {}).get(ANSWERED_BY_SERVER, status)
            metrics.count_request(scope["method"], self._route(scope), status, seconds)

    def _route(self, scope: Scope) -> str:
        return route_template(scope, self.routes) or metrics.UNMATCHED


def route_template(scope: Scope, routes: Sequence[BaseRoute]) -> str | None:
    """The template of the route a request asked for (None: no route matches it), named
    even when it was refused before routing (503 overloaded, 413)."""
    # The router leaves the route it chose in the scope (a 405 too).
    route = scope.get("route")
    if route is None:
        route = next((r for r in routes if r.matches(scope)[0] is not Match.NONE), None)
    template = getattr(route, "path_format", None)
    return template if isinstance(template, str) else None


SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


class SecurityHeadersMiddleware:
    """Headers a security review expects on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)


class CutShortMiddleware:
    """A request the server cancels because its shutdown grace ran out gets a 503 that
    says so (with X-Request-ID and the security headers, from the middleware outside),
    where uvicorn answered a plain-text 500 with none: a CAD read a server fault, not a
    request to retry elsewhere. Its transaction was rolled back as the cancellation
    passed through it. A request whose answer had begun is cut off, as before."""

    def __init__(self, app: ASGIApp, *, stopping: Callable[[], bool]) -> None:
        self.app = app
        self.stopping = stopping

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        answering = False

        async def send_tracked(message: Message) -> None:
            nonlocal answering
            if message["type"] == "http.response.start":
                answering = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracked)
        except asyncio.CancelledError:
            if answering or not self.stopping():
                raise
            # The task's one cancellation has been taken: the answer can still be sent.
            await send_problem(send, CUT_SHORT)


class HeadMiddleware:
    """A HEAD is answered as its GET would be, without the body (RFC 9110 §9.3.2):
    monitors, proxies and link checkers send HEAD, and FastAPI routes answer it 405.

    The app below sees a GET in a scope of its own; the layers outside (access log,
    metrics) and the server keep the HEAD. The body is dropped here, whatever the server
    does, and Content-Length stays the GET's.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD" or scope["path"] in LONG_LIVED:
            await self.app(scope, receive, send)
            return
        as_get = {**scope, "method": "GET"}

        async def send_no_body(message: Message) -> None:
            if message["type"] == "http.response.start" and "route" in as_get:
                # The route the router chose, for the layers outside (metrics, tracing).
                scope["route"] = as_get["route"]
            elif message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app(as_get, receive, send_no_body)


# Answers that stay open as long as the client listens (the live feed). A HEAD there would
# hold a stream open with nothing to send, so it stays a 405 (HeadMiddleware).
LONG_LIVED = frozenset({"/v1/stream"})

# (status, slug, title, detail, extra headers) of the answers sent outside any route.
Answer = tuple[int, str, str, str, list[tuple[bytes, bytes]]]
_RETRY = [(b"retry-after", b"1")]
CUT_SHORT: Answer = (
    503,
    "stopping",
    "Service stopping",
    "This instance stopped before the request finished (its shutdown grace,"
    " CIT_SHUTDOWN_GRACE_SECONDS, ran out): it was rolled back, unless its commit had"
    " reached the database. Retry it on another instance (with the same Idempotency-Key,"
    " if it had one)",
    _RETRY,
)


def problem_head(
    answer: Answer, request_id: str | None = None
) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Headers and body of a problem+json answer that closes the connection.

    With request_id, it carries X-Request-ID and the security headers itself: for answers
    written below the middleware (by the HTTP protocol). Without, the middleware adds them.
    """
    status, slug, title, detail, extra = answer
    body = json.dumps(
        {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail}
    ).encode()
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        *extra,
    ]
    if request_id is not None:
        headers += [(b"x-request-id", request_id.encode()), *SECURITY_HEADERS]
    return headers, body


async def send_problem(send: Send, answer: Answer, request_id: str | None = None) -> None:
    headers, body = problem_head(answer, request_id)
    await send({"type": "http.response.start", "status": answer[0], "headers": headers})
    await send({"type": "http.response.body", "body": body})


def new_request_id() -> str:
    return uuid.uuid4().hex


def request_id_of(scope: Scope) -> str:
    """The request's id, kept in its scope's state: the client's X-Request-ID if it is a
    fit one, else a new one. The HTTP protocol may give it first (an answer it writes
    before the application ran this far: app/api/protocol.py)."""
    state = scope.setdefault("state", {})
    request_id: str | None = state.get("request_id")
    if request_id is None:
        incoming = header(scope, b"x-request-id")
        request_id = incoming if incoming and _REQUEST_ID_OK.match(incoming) else new_request_id()
        state["request_id"] = request_id
    return request_id


def header(scope: Scope, name: bytes) -> str | None:
    """A request header's value, as text (None: not sent)."""
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None
