"""A tiny TTL cache, and loads shared by the requests that need the same entry.

Entries expire so a change missed by the listener still shows up. Announcements
(app/services/changes.py) drop entries when another instance changes what they hold; the
TTL is the safety net.

An entry past half its life is due for a refresh: the first request to find it so starts
one load behind it (Flights.refresh) and, like every request until the load lands, goes
on with the entry, which is still within its TTL. A busy agency's requests then never wait
for its context or its keys to be read again; they used to, every TTL, all of those in
flight at once (issue 16: the p99 of intake at 50 calls/s was those requests).

A request holds the refreshes it claims until its answer has begun (hold_refreshes, in
app/api/middleware.py): it does not share the event loop with the reads it set off, and
at a console floor's pace the next request usually comes after they have landed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar, Token
from typing import Generic, TypeVar

from app.db.failures import log_failure
from app.tasks import cancel_and_wait

K = TypeVar("K")
V = TypeVar("V")
C = TypeVar("C")  # what a cache holds, which a load may return (or None)

log = logging.getLogger(__name__)


class _Held:
    """The refreshes a request has claimed, started once its answer begins."""

    def __init__(self) -> None:
        self.starts: list[Callable[[], None]] = []
        self.released = False


_held: ContextVar[_Held | None] = ContextVar("cit_held_refreshes", default=None)


def hold_refreshes() -> Token[_Held | None]:
    """From now on in this context, refreshes wait for release_refreshes."""
    return _held.set(_Held())


def release_refreshes() -> None:
    """Start the refreshes held in this context, and any claimed after, at once."""
    held = _held.get()
    if held is None or held.released:
        return
    held.released = True
    for start in held.starts:
        start()
    held.starts.clear()


def end_hold(token: Token[_Held | None]) -> None:
    release_refreshes()
    _held.reset(token)


class TtlCache(Generic[K, V]):
    def __init__(self, ttl_seconds: float, max_entries: int = 10_000) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        # key -> (due for a refresh at, expires at, value), in time.monotonic() seconds.
        self._entries: dict[K, tuple[float, float, V]] = {}
        # Bumped by every drop: a value read before a drop must not be put after it.
        self.generation = 0

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        _, expires, value = entry
        if time.monotonic() >= expires:
            self._entries.pop(key, None)
            return None
        return value

    def claim_refresh(self, key: K) -> bool:
        """Whether the entry is past half its life and nobody has claimed its refresh yet
        (this call claims it). An entry whose refresh fails still expires at its TTL."""
        entry = self._entries.get(key)
        if entry is None or time.monotonic() < entry[0]:
            return False
        self._entries[key] = (math.inf, entry[1], entry[2])
        return True

    def put(
        self, key: K, value: V, *, ttl: float | None = None, read_at: int | None = None
    ) -> None:
        """Keep value for the TTL (or ttl, if shorter). read_at: the generation when value
        was read; if anything was dropped since, value may be stale and is not kept."""
        keep = self.ttl if ttl is None else min(self.ttl, ttl)
        if keep <= 0 or (read_at is not None and read_at != self.generation):
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        now = time.monotonic()
        self._entries[key] = (now + keep / 2, now + keep, value)

    def discard(self, key: K) -> None:
        self.generation += 1
        self._entries.pop(key, None)

    def discard_if(self, stale: Callable[[V], bool]) -> None:
        """Drop every entry whose value is stale."""
        self.generation += 1
        for key in [k for k, (_, _, v) in self._entries.items() if stale(v)]:
            del self._entries[key]

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()


class Flights(Generic[K, V]):
    """Loads in flight, by key: the requests that need the same entry at once share one
    load, which outlives any of them (a cancelled request does not cancel it)."""

    def __init__(self, what: str) -> None:
        self.what = what  # named in the warning when a refresh fails
        self._tasks: dict[K, asyncio.Task[V]] = {}
        # When each load in flight began (the event loop's clock), for fresh().
        self._began: dict[asyncio.Task[V], float] = {}

    def __len__(self) -> int:
        return len(self._tasks)

    def start(self, key: K, load: Callable[[], Awaitable[V]]) -> asyncio.Task[V]:
        """The load in flight for key, or a new one."""
        task = self._tasks.get(key)
        if task is None:
            began = asyncio.get_running_loop().time()
            task = asyncio.ensure_future(load())
            self._tasks[key] = task
            self._began[task] = began
            task.add_done_callback(functools.partial(self._landed, key))
        return task

    async def read(self, cache: TtlCache[K, C], key: K, load: Callable[[], Awaitable[V]]) -> C | V:
        """The entry from cache; if it is missing, the result of the load in flight (or a
        new one). An entry past half its life is returned as it is, and its refresh is
        claimed and started behind the caller (refresh)."""
        value = cache.get(key)
        if value is None:
            return await self.join(key, load)
        if cache.claim_refresh(key):
            self.refresh(key, load)
        return value

    async def join(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        """The result of the load in flight for key, starting one if none is."""
        return await asyncio.shield(self.start(key, load))

    async def fresh(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        """The result of a load of key begun after this call, so one that reads what was
        written before it. A load in flight that began earlier may not: the callers that
        come while it runs wait for it to land, then share the next one, so a burst of
        them makes two loads, not one each."""
        asked = asyncio.get_running_loop().time()
        while True:
            task = self._tasks.get(key)
            if task is None or self._began.get(task, asked) >= asked:
                return await self.join(key, load)
            await asyncio.wait({task})

    def refresh(self, key: K, load: Callable[[], Awaitable[V]]) -> None:
        """Start a load for key that nobody waits for (a refresh ahead of expiry), or hold
        it until the request's answer begins (hold_refreshes); its failure is logged, and
        the entry it would have replaced expires as it would have."""
        held = _held.get()
        if held is None or held.released:
            self._refresh(key, load)
        else:
            held.starts.append(functools.partial(self._refresh, key, load))

    def _refresh(self, key: K, load: Callable[[], Awaitable[V]]) -> None:
        self.start(key, load).add_done_callback(self._log_failure)

    def forget(self, key: K) -> None:
        """Requests from now on do not share the load in flight for key: it may have read
        what a change has just made stale. It still runs; the cache's drop that comes
        with the change refuses its put."""
        self._tasks.pop(key, None)

    def clear(self) -> None:
        self._tasks.clear()

    async def settle(self) -> None:
        """Wait for the loads in flight now to land."""
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def end(self) -> None:
        """Cancel the loads in flight, and wait until they have ended (at shutdown: a
        refresh nobody waits for need not land, and one a database that does not answer
        holds waited as long as the statement's timeout, past the stop's bound). A load's
        failure is its own: it is logged as it lands, never raised here."""
        with contextlib.suppress(Exception):
            await cancel_and_wait(*self._tasks.values())

    def _landed(self, key: K, done: asyncio.Task[V]) -> None:
        self._began.pop(done, None)
        if self._tasks.get(key) is done:
            del self._tasks[key]
        if not done.cancelled():
            done.exception()  # retrieved here, so a failure nobody awaited is not logged twice

    def _log_failure(self, done: asyncio.Task[V]) -> None:
        if not done.cancelled() and (exc := done.exception()) is not None:
            log_failure(
                log, f"could not refresh a cached {self.what}; it expires as it would have", exc
            )
