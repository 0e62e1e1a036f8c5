"""The relay's HTTP client: one webhook POST at a time per connection, HTTP/1.1 with h11
over the network backend's streams, the idle connections kept alive per receiver (origin).

Why not httpx's client: under load its pool (httpcore's `AsyncConnectionPool`) walks every
connection on each request's start and each response's close, so with 32 deliveries in
flight to one receiver a POST cost about 2 ms of CPU (1.1 ms at 8 in flight), where one
connection per request and a list of idle ones per origin cost about 0.3 ms, flat with
concurrency (issue 16). What httpx did for the relay is here, kept small:

- connections go through the network backend of app/webhooks/targets.py (public addresses
  only, checked as they are made, unless CIT_WEBHOOK_ALLOW_PRIVATE_TARGETS); https verifies
  the certificate for the name (httpx's default context: certifi's roots, or
  SSL_CERT_FILE or SSL_CERT_DIR);
- `timeout` bounds each connect, write and read, and (unless `pool_timeout`) the wait for
  a free connection; `total` bounds the whole attempt, from connect (or a kept connection)
  to the answer, a wait for a free connection aside;
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
from collections.abc import Callable
from dataclasses import dataclass

import h11
import httpcore
import httpx

from app.tracing import webhook_post
from app.webhooks.connection import ANSWER_MARGIN, Answer, Connection

BODY_CAP = 64 * 1024
KEEPALIVE_SECONDS = 5.0  # httpx's default
# How often idle connections are looked over for expiry (by the next POST after, or by
# the sweeper while they are idle).
SWEEP_SECONDS = 1.0

# What a failed exchange raises (the relay retries it): a connection refused or reset, a
# timeout, an answer that is not HTTP, a TLS failure (ssl.SSLError is an OSError).
SEND_ERRORS: tuple[type[Exception], ...] = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    OSError,
)


_Key = tuple[bytes, bytes, int]


@dataclass(frozen=True, slots=True)
class _Target:
    """What a receiver's URL comes to, worked out once per URL."""

    key: _Key  # the origin (scheme, host, port)
    tls: bool
    path: bytes  # the request target: path and query
    host_header: bytes
    host: str
    port: int
    without_query: str  # for the span: the query string may carry a token


@functools.lru_cache(maxsize=1024)
def _target(url: str) -> _Target:
    # httpx's parser, as when httpx sent: IDNA, default ports, IPv6 brackets.
    parsed = httpx.URL(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return _Target(
        key=(parsed.raw_scheme, parsed.raw_host, port),
        tls=parsed.scheme == "https",
        path=parsed.raw_path,
        host_header=parsed.netloc,
        host=parsed.raw_host.decode("ascii"),
        port=port,
        without_query=str(parsed.copy_with(query=None, fragment=None)),
    )


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
        self._ssl.set_alpn_protocols(["http/1.1"])
        # How many connections are open or being opened (idle ones included), the idle ones
        # per origin (most recently used last), and the POSTs waiting for room for one more.
        self._open = 0
        self._idle: dict[_Key, list[Connection]] = {}
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()
        self._next_sweep = 0.0
        # Sweeps while connections are idle, so they close when the relay goes quiet.
        self._sweeper: asyncio.Task[None] | None = None
        self._closed = False

    async def __aenter__(self) -> Sender:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the idle connections; one still in use is closed when its POST ends."""
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        idle, self._idle = self._idle, {}
        for connections in idle.values():
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
        with webhook_post(
            url=target.without_query, host=target.host, port=target.port, headers=headers
        ) as span:
            try:
                # Made once the span has added its header.
                request = h11.Request(method=b"POST", target=target.path, headers=headers)
            except h11.LocalProtocolError as exc:
                raise httpcore.LocalProtocolError(str(exc)) from exc
            try:
                async with asyncio.timeout(self.total) as attempt:
                    answer = await self._exchange(target, request, body, sending, attempt)
            except TimeoutError:
                raise httpcore.TimeoutException(
                    f"no answer within {self.total:g} s in all"
                ) from None
            span.answered(answer.status)
        return answer

    async def _exchange(
        self,
        target: _Target,
        request: h11.Request,
        body: bytes,
        sending: Callable[[], object] | None,
        attempt: asyncio.Timeout,
    ) -> Answer:
        connection = await self._connection(target, attempt)
        try:
            deadline = attempt.when()
            answer, reusable = await connection.exchange(
                request,
                body,
                step_seconds=self.timeout,
                body_cap=self.body_cap,
                sending=sending,
                finish_by=None if deadline is None else deadline - ANSWER_MARGIN,
            )
        except BaseException:
            await self._close(connection)
            raise
        if reusable and not self._closed:
            await self._keep(target.key, connection)
        else:
            await self._close(connection)
        return answer

    async def _connection(self, target: _Target, attempt: asyncio.Timeout) -> Connection:
        """An idle connection to origin, still fresh, or a new one once there is room. The
        attempt's time does not run while it waits for room (pool_timeout bounds that)."""
        deadline: float | None = None
        while True:
            idle = self._idle.get(target.key)
            while idle:
                connection = idle.pop()
                if not connection.has_expired():
                    return connection
                await self._close(connection)
            if self._open < self.max_connections:
                self._open += 1  # taken while it connects
                try:
                    return await self._connect(target)
                except BaseException:
                    self._open -= 1
                    self._wake_one()
                    raise
            oldest = self._oldest_idle()
            if oldest is not None:
                await self._close(oldest)
                continue
            loop = asyncio.get_running_loop()
            if deadline is None:
                deadline = loop.time() + self.pool_timeout
            ends, waiting_since = attempt.when(), loop.time()
            attempt.reschedule(None)
            await self._wait_for_room(deadline - loop.time())
            if ends is not None:
                attempt.reschedule(ends + loop.time() - waiting_since)

    async def _connect(self, target: _Target) -> Connection:
        """Connect through the network backend (its guard decides which addresses may be
        reached), and for https verify the certificate for the host's name."""
        stream = await self._backend.connect_tcp(target.host, target.port, timeout=self.timeout)
        if target.tls:
            try:
                stream = await stream.start_tls(
                    self._ssl, server_hostname=target.host, timeout=self.timeout
                )
            except BaseException:
                await stream.aclose()
                raise
        return Connection(stream, self.keepalive)

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

    async def _keep(self, key: _Key, connection: Connection) -> None:
        idle = self._idle.setdefault(key, [])
        idle.append(connection)
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.create_task(self._sweep_while_idle())
        if len(idle) > self.keep_idle:
            await self._close(idle.pop(0))
        elif self._waiting:
            # A POST waits for room: it takes this one if it is for the same receiver, or
            # closes the oldest idle connection for its own.
            self._wake_one()

    def _oldest_idle(self) -> Connection | None:
        """Take the connection idle longest, of any receiver (each list is oldest first)."""
        lists = [idle for idle in self._idle.values() if idle]
        if not lists:
            return None
        return min(lists, key=lambda idle: idle[0].idle_since).pop(0)

    async def _sweep_while_idle(self) -> None:
        """Sweep every SWEEP_SECONDS while any connection is idle: with no POST to sweep
        first, idle connections would stay open past their keep-alive."""
        while self._idle and not self._closed:
            await asyncio.sleep(SWEEP_SECONDS)
            await self._sweep()

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

    async def _close(self, connection: Connection) -> None:
        self._open -= 1
        self._wake_one()
        with contextlib.suppress(Exception):
            await connection.aclose()
