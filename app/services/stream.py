"""The live feed (GET /v1/stream): every committed event the caller may hear, as SSE.

A feed holds no transaction and no connection while it waits. It watches its agency on the
process's one LISTEN connection (app/db/listen.py, Announcements); when woken it reads the
events after its position in a short read-only unit of work (app/repositories/stream.py
says why that order never skips nor repeats an event), and sends those the caller hears:
a unit key exactly what its terminal's webhook would get (app/events/audience.py, with the
units on the call as the event was written).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from app.errors import Invalid
from app.events.audience import Listener, hears
from app.events.body import event_body
from app.repositories import stream as repo
from app.repositories.stream import Position, StoredEvent
from app.security import Principal
from app.services import auth
from app.state import AppState
from app.vocabulary import EventType

log = logging.getLogger(__name__)
T = TypeVar("T")

PAGE = 200
# While committed events wait behind an older transaction: first re-read, then at most.
HELD_BACK_FIRST = 0.05
HELD_BACK_MAX = 1.0
# The client's reconnection delay (the SSE `retry` field), in milliseconds.
RETRY_MS = 2000
# Seconds within which a revoked key stops working everywhere (README, "Security model").
REVOKED_WITHIN = 5.0


@dataclass(frozen=True)
class Feed:
    """One caller's feed: who listens, from where, and the key it opened with."""

    principal: Principal
    secret: str
    listener: Listener
    after: Position


async def open_feed(
    state: AppState,
    principal: Principal,
    *,
    secret: str,
    types: frozenset[EventType],
    last_event_id: str | None,
) -> Feed:
    """The caller's feed, resuming after last_event_id if given, else starting now."""
    listener = Listener(
        events=types, responder_id=principal.responder_id if principal.role == "unit" else None
    )
    if last_event_id:
        after = Position.parse(last_event_id.strip())
        if after is None:
            raise Invalid(
                "Last-Event-ID is not an id this stream sent", loc=("header", "Last-Event-ID")
            )
    else:
        async with state.unit_of_work(principal.agency_id, read_only=True) as work:
            after = await repo.start(await work.connection())
    return Feed(principal=principal, secret=secret, listener=listener, after=after)


async def messages(state: AppState, feed: Feed) -> AsyncIterator[bytes]:
    """The feed's SSE messages until the server stops (or the client leaves)."""
    heartbeat = state.settings.stream_heartbeat_seconds
    announcements = state.announcements
    agency_id = feed.principal.agency_id
    with announcements.watch(str(agency_id)) as wake:
        # The start position goes first: a client that reconnects resumes from it.
        yield f"retry: {RETRY_MS}\nid: {feed.after}\n\n".encode()
        position = feed.after
        last_sent = time.monotonic()
        # Read at once (events may have committed since the start position), then only
        # when woken, or while events are held back; a heartbeat reads nothing.
        read = True
        held_back_wait: float | None = None
        # A revoked or expired key ends its streams within REVOKED_WITHIN seconds, as it
        # stops its requests: the key cache may be CIT_CACHE_TTL_SECONDS behind.
        check_every = max(0.5, REVOKED_WITHIN - state.settings.cache_ttl_seconds)
        next_check = time.monotonic() + check_every
        while not announcements.closed:
            try:
                if time.monotonic() >= next_check:
                    valid = auth.still_valid(state, feed.secret, feed.principal)
                    if not await _uncancelled(valid):
                        return
                    next_check = time.monotonic() + check_every
                if read:
                    wake.clear()
                    batch = await _uncancelled(_read(state, feed, position))
            except Exception:
                # The client reconnects with its Last-Event-ID, here or elsewhere.
                log.warning("live feed cannot read the database; ending it", exc_info=True)
                return
            if read:
                for stored in batch.events:
                    if hears(feed.listener, stored.event, units_on_call=stored.units_on_call):
                        yield message(stored)
                        last_sent = time.monotonic()
                position = batch.position
                if batch.more:
                    continue
                if not batch.held_back:
                    held_back_wait = None
                elif held_back_wait is None:
                    held_back_wait = HELD_BACK_FIRST
                else:
                    held_back_wait = min(held_back_wait * 2, HELD_BACK_MAX)
            wait = min(heartbeat - (time.monotonic() - last_sent), next_check - time.monotonic())
            if held_back_wait is not None:
                wait = min(wait, held_back_wait)
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=wait)
            read = wake.is_set() or held_back_wait is not None
            if not wake.is_set() and time.monotonic() - last_sent >= heartbeat:
                yield b": keep-alive\n\n"
                last_sent = time.monotonic()


async def _uncancelled(work: Coroutine[Any, Any, T]) -> T:
    """Await work that uses the database; if the client leaves meanwhile, it still
    finishes (unseen), so its connection goes back to the pool whole: a checkout or BEGIN
    cut short by a cancellation would leave the connection to the garbage collector."""
    task = asyncio.ensure_future(work)
    task.add_done_callback(_retrieve)
    return await asyncio.shield(task)


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved, so an abandoned read's error is not reported twice


async def _read(state: AppState, feed: Feed, position: Position) -> repo.Batch:
    """The events after position, in a short read-only transaction of the caller's agency.

    At most a quarter of the pool serves feeds at once, so a burst of events woken for
    hundreds of feeds leaves requests their connections.
    """
    async with (
        state.stream_reads,
        state.unit_of_work(feed.principal.agency_id, read_only=True) as work,
    ):
        return await repo.read_after(
            await work.connection(),
            agency_id=feed.principal.agency_id,
            after=position,
            types=feed.listener.events,
            limit=PAGE,
        )


def message(stored: StoredEvent) -> bytes:
    """One SSE message: the event's position, its type, and the body a webhook gets."""
    body = event_body(stored.event.type, at=stored.created_at, payload=stored.event.payload)
    return b"id: %s\nevent: %s\ndata: %s\n\n" % (
        str(stored.position).encode(),
        stored.event.type.encode(),
        body,
    )
