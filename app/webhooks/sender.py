"""The relay's HTTP client: one webhook POST at a time per connection, on httpcore's
`AsyncHTTPConnection`, with the idle connections kept alive per receiver (origin).

Why not httpx's client: under load its pool (httpcore's `AsyncConnectionPool`) walks every
connection on each request's start and each response's close, so with 32 deliveries in
flight to one receiver a POST cost about 2 ms of CPU (1.1 ms at 8 in flight), where one
connection per request and a list of idle ones per origin cost about 0.4 ms, flat with
concurrency (issue 16). What httpx did for the relay is here, kept small:

- connections go through the network backend of app/webhooks/targets.py (public addresses
  only, checked as they are made, unless CIT_WEBHOOK_ALLOW_PRIVATE_TARGETS); https verifies
  the certificate for the name (httpx's default context: certifi's roots, or
  SSL_CERT_FILE or SSL_CERT_DIR);
- `timeout` bounds each connect, write and read, and (unless `pool_timeout`) the wait for
  a free connection; `total` bounds the whole POST;
- at most `max_connections` open at once (idle ones included): a POST beyond them closes the
  oldest idle connection, or waits for one to be given back;
- idle connections are reused while `keepalive` seconds fresh, at most `keep_idle` per
  origin;
- the answer's body is read and dropped, up to BODY_CAP: a longer one closes the connection
  instead of being read on.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import time
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from app.tracing import webhook_post

BODY_CAP = 64 * 1024
KEEPALIVE_SECONDS = 5.0  # httpx's default
# How often idle connections are looked over for expiry (closed by the next POST after).
SWEEP_SECONDS = 1.0

# What a failed exchange raises (the relay retries it): a connection refused or reset, a
# timeout, an answer that is not HTTP, a TLS failure (ssl.SSLError is an OSError).
SEND_ERRORS: tuple[type[Exception], ...] = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    OSError,
)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    retry_after: str | None


_Key = tuple[bytes, bytes, int]


@dataclass(frozen=True, slots=True)
class _Target:
    """What a receiver's URL comes to, worked out once per URL."""

    origin: httpcore.Origin
    key: _Key  # the origin, hashable
    url: httpcore.URL
    host_header: bytes
    host: str
    port: int
    without_query: str  # for the span: the query string may carry a token


@functools.lru_cache(maxsize=1024)
def _target(url: str) -> _Target:
    # httpx's parser, as when httpx sent: IDNA, default ports, IPv6 brackets.
    parsed = httpx.URL(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    origin = httpcore.Origin(parsed.raw_scheme, parsed.raw_host, port)
    return _Target(
        origin=origin,
        key=(parsed.raw_scheme, parsed.raw_host, port),
        url=httpcore.URL(
            scheme=parsed.raw_scheme, host=parsed.raw_host, port=port, target=parsed.raw_path
        ),
        host_header=parsed.netloc,
        host=parsed.raw_host.decode("ascii"),
        port=port,
        without_query=str(parsed.copy_with(query=None, fragment=None)),
    )


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class Sender:
    """POST to webhook receivers; close() (or `async with`) closes every connection."""

    def __init__(
        self,
        backend: httpcore.AsyncNetworkBackend,
        *,
        timeout: float,
        total: float,
        max_connections: int,
        keep_idle: int,
        pool_timeout: float | None = None,
        keepalive: float = KEEPALIVE_SECONDS,
        body_cap: int = BODY_CAP,
    ) -> None:
        self.timeout = timeout
        self.pool_timeout = timeout if pool_timeout is None else pool_timeout
        self.total = total
        self.max_connections = max_connections
        self.keep_idle = keep_idle
        self.keepalive = keepalive
        self.body_cap = body_cap
        self._backend = backend
        # httpx's default, as when httpx sent: certifi's roots, or SSL_CERT_FILE/SSL_CERT_DIR.
        self._ssl = httpx.create_ssl_context()
        self._timeouts = {"connect": timeout, "read": timeout, "write": timeout}
        # Every open connection (in use or idle), the idle ones per origin (most recently
        # used last), and the POSTs waiting for room for one more connection.
        self._open: set[httpcore.AsyncHTTPConnection] = set()
        self._idle: dict[_Key, list[httpcore.AsyncHTTPConnection]] = {}
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()
        self._next_sweep = 0.0

    async def __aenter__(self) -> Sender:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        connections, self._open, self._idle = self._open, set(), {}
        for connection in connections:
            await self._close(connection)

    async def post(
        self,
        url: str,
        body: bytes,
        headers: list[tuple[bytes, bytes]],
        *,
        sending: Callable[[], object] | None = None,
    ) -> Answer:
        """POST body to url. sending() is called as the request's headers begin to go out
        (from then on the receiver may act on it). Raises one of SEND_ERRORS, or
        TargetRefused (app/webhooks/targets.py) for an address the backend refuses."""
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_SECONDS
            await self._sweep()
        target = _target(url)
        headers = [
            (b"host", target.host_header),
            (b"content-length", str(len(body)).encode("ascii")),
            *headers,
        ]
        extensions: dict[str, Any] = {"timeout": self._timeouts}
        if sending is not None:
            extensions["trace"] = functools.partial(_on_headers_sent, sending)
        with webhook_post(
            url=target.without_query, host=target.host, port=target.port, headers=headers
        ) as span:
            # Made once the span has added its header.
            request = httpcore.Request(
                b"POST", target.url, headers=headers, content=body, extensions=extensions
            )
            try:
                async with asyncio.timeout(self.total):
                    answer = await self._exchange(target, request)
            except TimeoutError:
                raise httpcore.TimeoutException(
                    f"no answer within {self.total:g} s in all"
                ) from None
            except httpcore.TimeoutException as exc:
                if str(exc):
                    raise
                # anyio's timeouts say nothing: say which limit it was.
                raise type(exc)(f"over {self.timeout:g} s") from exc
            span.answered(answer.status)
        return answer

    async def _exchange(self, target: _Target, request: httpcore.Request) -> Answer:
        connection = await self._connection(target)
        try:
            response = await connection.handle_async_request(request)
            try:
                whole = await self._drain(response.stream)
            finally:
                await response.aclose()  # closes the connection unless the answer was whole
        except BaseException:
            await self._close(connection)
            raise
        if whole and connection.is_idle():
            await self._keep(target.key, connection)
        else:
            await self._close(connection)
        return Answer(response.status, _header(response.headers, b"retry-after"))

    async def _drain(self, stream: Any) -> bool:
        """Read and drop the answer's body; False (read no further) past body_cap."""
        assert isinstance(stream, AsyncIterable)
        read = 0
        async for chunk in stream:
            read += len(chunk)
            if read > self.body_cap:
                return False
        return True

    async def _connection(self, target: _Target) -> httpcore.AsyncHTTPConnection:
        """An idle connection to origin, still fresh, or a new one once there is room."""
        deadline: float | None = None
        while True:
            idle = self._idle.get(target.key)
            while idle:
                connection = idle.pop()
                if connection.is_idle() and not connection.has_expired():
                    return connection
                await self._close(connection)
            if len(self._open) < self.max_connections:
                connection = httpcore.AsyncHTTPConnection(
                    target.origin,
                    ssl_context=self._ssl,
                    keepalive_expiry=self.keepalive,
                    network_backend=self._backend,
                )
                self._open.add(connection)
                return connection
            oldest = self._oldest_idle()
            if oldest is not None:
                await self._close(oldest)
                continue
            loop = asyncio.get_running_loop()
            if deadline is None:
                deadline = loop.time() + self.pool_timeout
            await self._wait_for_room(deadline - loop.time())

    async def _wait_for_room(self, timeout: float) -> None:  # noqa: ASYNC109 (a deadline)
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            async with asyncio.timeout(max(0.0, timeout)):
                await waiter
        except TimeoutError:
            raise httpcore.PoolTimeout(
                f"no free connection within {self.pool_timeout:g} s ({self.max_connections} open)"
            ) from None
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._wake_one()  # woken, but leaving: the room goes to the next
            raise
        finally:
            with contextlib.suppress(ValueError):
                self._waiting.remove(waiter)

    def _wake_one(self) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _keep(self, key: _Key, connection: httpcore.AsyncHTTPConnection) -> None:
        idle = self._idle.setdefault(key, [])
        idle.append(connection)
        if len(idle) > self.keep_idle:
            await self._close(idle.pop(0))
        elif self._waiting:
            # A POST waits for room: it takes this one if it is for the same receiver, or
            # closes the oldest idle connection for its own.
            self._wake_one()

    def _oldest_idle(self) -> httpcore.AsyncHTTPConnection | None:
        for idle in self._idle.values():
            if idle:
                return idle.pop(0)
        return None

    async def _sweep(self) -> None:
        """Close the idle connections that have expired, and forget origins left with none."""
        expired = []
        for key, idle in list(self._idle.items()):
            gone = [connection for connection in idle if connection.has_expired()]
            for connection in gone:
                idle.remove(connection)
            expired += gone
            if not idle:
                del self._idle[key]
        for connection in expired:
            await self._close(connection)

    async def _close(self, connection: httpcore.AsyncHTTPConnection) -> None:
        if connection in self._open:
            self._open.discard(connection)
            self._wake_one()
        with contextlib.suppress(Exception):
            await connection.aclose()


async def _on_headers_sent(sending: Callable[[], object], event: str, _: object) -> None:
    # httpcore's trace: once the request's headers begin to go out, the receiver may act on
    # it. Until then (connecting, say) it is not yet sent.
    if event == "http11.send_request_headers.started":
        sending()
