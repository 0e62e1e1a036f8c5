"""One reader of an agency's committed events per process, shared by all its live feeds.

When a feed read the database itself each time it was woken, one commit cost as many reads
as the agency had open feeds, and a hundred consoles made a dispatch seconds late. The
agency's Tail reads each new event once, in the order app/repositories/stream.py explains,
keeps the latest RING of them with their SSE message already made, and wakes its feeds;
each feed then picks from memory what its caller hears. A feed whose position is older
than the oldest event kept (one resuming from long ago) reads the database itself until it
reaches what the tail holds (app/services/stream.py).

A tail starts with the first feed of its agency and stops IDLE_SECONDS after the last one
leaves, when the server stops, or when it cannot read (its feeds end, and their clients
resume with Last-Event-ID).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import contextvars
import logging
import time
import weakref
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from app.db.failures import log_failure
from app.events.body import event_body
from app.events.stored import documented
from app.repositories import stream as repo
from app.repositories.stream import Position, StoredEvent
from app.tasks import cancel_and_wait
from app.vocabulary import EVENT_TYPES

if TYPE_CHECKING:
    from app.state import AppState

log = logging.getLogger("app.services.stream")
T = TypeVar("T")

# Events kept per agency: minutes of a busy centre's traffic.
RING = 2000
PAGE = 500
# While committed events wait behind an older transaction: first re-read, then at most.
HELD_BACK_FIRST = 0.05
HELD_BACK_MAX = 1.0
# A tail with no feed stops after this long (a console reconnecting finds it still there).
IDLE_SECONDS = 30.0
_ALL_TYPES = frozenset(EVENT_TYPES)

# Each process's (each app state's) running tails, by agency.
_TAILS: weakref.WeakKeyDictionary[AppState, dict[UUID, Tail]] = weakref.WeakKeyDictionary()


def _tails(state: AppState) -> dict[UUID, Tail]:
    return _TAILS.setdefault(state, {})


@dataclass(frozen=True, slots=True)
class Entry:
    """A committed event and its SSE message, made once for every feed."""

    stored: StoredEvent
    frame: bytes


def message(stored: StoredEvent) -> bytes:
    """One SSE message: the event's position, its type, and the body a webhook gets."""
    event = stored.event
    body = event_body(
        event.type, at=stored.created_at, payload=documented(event.type, event.payload)
    )
    return b"id: %s\nevent: %s\ndata: %s\n\n" % (
        str(stored.position).encode(),
        stored.event.type.encode(),
        body,
    )


class Tail:
    """An agency's latest committed events, in position order, as this process read them."""

    def __init__(self, state: AppState, agency_id: UUID) -> None:
        self._state = state
        self.agency_id = agency_id
        self._entries: list[Entry] = []
        self._positions: list[Position] = []
        # Every event after floor, up to head, is in _entries. None until the first read.
        self.floor: Position | None = None
        self.head: Position | None = None
        self.ended = False
        self.feeds = 0
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def changed(self) -> asyncio.Event:
        """Set when the tail next moves (or ends): take it before looking at the tail."""
        return self._changed

    def since(self, position: Position) -> list[Entry] | None:
        """The events kept after position, or None if some after it are no longer kept."""
        if self.floor is None or position < self.floor:
            return None
        return self._entries[bisect.bisect_right(self._positions, position) :]

    def start(self) -> None:
        # In a context of its own: the first stream's request starts the tail, which outlives
        # it, so its logs and spans must not carry that request's id or trace.
        self._task = asyncio.create_task(
            self._run(), name=f"live feed tail {self.agency_id}", context=contextvars.Context()
        )

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)

    async def _run(self) -> None:
        announcements = self._state.announcements
        try:
            with announcements.watch(str(self.agency_id)) as wake:
                read = True
                held_back_wait: float | None = None
                idle_since = time.monotonic()
                while not announcements.closed:
                    if read:
                        wake.clear()
                        batch = await uncancelled(self._read())
                        self._keep(batch)
                        if batch.more:
                            continue
                        if not batch.held_back:
                            held_back_wait = None
                        else:
                            held_back_wait = min(
                                (held_back_wait or HELD_BACK_FIRST / 2) * 2, HELD_BACK_MAX
                            )
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), timeout=held_back_wait or 1.0)
                    read = wake.is_set() or held_back_wait is not None
                    if self.feeds:
                        idle_since = time.monotonic()
                    elif time.monotonic() - idle_since >= IDLE_SECONDS:
                        return
        except Exception as exc:
            log_failure(log, "live feed cannot read the database; ending its feeds", exc)
        finally:
            self.ended = True
            tails = _tails(self._state)
            if tails.get(self.agency_id) is self:
                del tails[self.agency_id]
            self._changed.set()

    async def _read(self) -> repo.Batch:
        state = self._state
        async with (
            state.stream_reads,
            state.unit_of_work(self.agency_id, read_only=True) as work,
        ):
            conn = await work.connection()
            if self.head is None:
                self.floor = self.head = await repo.start(conn)
                # Feeds wait for the tail to know where it starts: one resuming from before
                # reads the database itself from then on, at once, not at its next check
                # or heartbeat, seconds later (the first read may bring no event to wake it).
                self._wake_feeds()
            return await repo.read_after(
                conn, agency_id=self.agency_id, after=self.head, types=_ALL_TYPES, limit=PAGE
            )

    def _keep(self, batch: repo.Batch) -> None:
        if not batch.events:
            return
        self._entries += [Entry(stored, message(stored)) for stored in batch.events]
        self._positions += [stored.position for stored in batch.events]
        self.head = batch.position
        if len(self._entries) > 2 * RING:  # trimmed in steps, not on every event
            drop = len(self._entries) - RING
            self.floor = self._positions[drop - 1]
            del self._entries[:drop], self._positions[:drop]
        self._wake_feeds()

    def _wake_feeds(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()


@contextlib.contextmanager
def following(state: AppState, agency_id: UUID) -> Iterator[Tail]:
    """The agency's tail, started if need be, counting the caller as one of its feeds."""
    tails = _tails(state)
    tail = tails.get(agency_id)
    if tail is None or tail.ended:
        tail = tails[agency_id] = Tail(state, agency_id)
        tail.start()
    tail.feeds += 1
    try:
        yield tail
    finally:
        tail.feeds -= 1


def current_head(state: AppState, agency_id: UUID) -> Position | None:
    """Where the agency's running tail has read to, if one runs: a feed may start there."""
    tail = _tails(state).get(agency_id)
    if tail is None or tail.ended:
        return None
    return tail.head


async def uncancelled(work: Coroutine[Any, Any, T]) -> T:
    """Await work that uses the database; if the waiter is cancelled meanwhile (a client
    leaves), it still finishes, unseen, so its connection goes back to the pool whole: a
    checkout or BEGIN cut short by a cancellation would leave it to the garbage collector."""
    task = asyncio.ensure_future(work)
    task.add_done_callback(_retrieve)
    return await asyncio.shield(task)


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved, so an abandoned read's error is not reported twice


async def stop_all(state: AppState) -> None:
    """Stop every tail (the server is stopping)."""
    for tail in list(_tails(state).values()):
        await tail.stop()
