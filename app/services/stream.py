"""The live feed (GET /v1/stream): every committed event the caller may hear, as SSE.

A feed holds no transaction and no connection while it waits. Its agency's tail
(app/services/stream_tail.py) reads each committed event once for every feed of the
process, woken by the process's one LISTEN connection (app/db/listen.py); the feed sends,
from memory, those its caller hears: a unit key exactly what its terminal's webhook would
get (app/events/audience.py, with the units on the call as the event was written). A feed
that resumes from before what the tail keeps reads the database itself, in short read-only
units of work, until it reaches it (app/repositories/stream.py says why that order never
skips nor repeats an event).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from app.db.failures import log_failure
from app.errors import Invalid
from app.events.audience import Listener, hears
from app.events.catalogue import unheard_by_a_terminal
from app.repositories import stream as repo
from app.repositories.stream import Position, StoredEvent
from app.security import Principal
from app.services import auth
from app.services.stream_tail import current_head, following, message, uncancelled
from app.state import AppState
from app.vocabulary import EVENT_TYPES, EventType

log = logging.getLogger(__name__)

PAGE = 200
# The client's reconnection delay (the SSE `retry` field), in milliseconds.
RETRY_MS = 2000
# Seconds within which a revoked key stops working everywhere (README, "Security model").
REVOKED_WITHIN = 5.0


@dataclass(frozen=True)
class Feed:
    """One caller's feed: who listens, from where, and the key it opened with."""

    principal: Principal
    # The SHA-256 of the key it acts as (presented, or behind the ticket it opened with).
    key_hash: bytes
    listener: Listener
    after: Position


def resume_position(last_event_id: str | None, *, loc: tuple[str, str]) -> Position | None:
    """Where a feed resumes: after the message with this id, if one is given (loc names
    where the client gave it, for the 422)."""
    if not last_event_id:
        return None
    after = Position.parse(last_event_id.strip())
    if after is None:
        raise Invalid(f"{loc[1]} is not an id this stream sent", loc=loc)
    return after


async def open_feed(
    state: AppState,
    principal: Principal,
    *,
    key_hash: bytes,
    types: frozenset[EventType] | None,
    after: Position | None,
) -> Feed:
    """The caller's feed of `types` (None: every type), resuming after `after` if given
    (resume_position), else now. A unit key naming a type its terminal never hears is a
    422, as a terminal's webhook subscription is: it would wait for it in vain."""
    if types is None:
        types = frozenset(EVENT_TYPES)
    elif principal.role == "unit":
        unheard = unheard_by_a_terminal(types)
        if unheard is not None:
            raise Invalid(f"{unheard}: leave them out of types", loc=("query", "types"))
    listener = Listener(
        events=types, responder_id=principal.responder_id if principal.role == "unit" else None
    )
    if after is None:
        head = current_head(state, principal.agency_id)
        if head is not None:
            after = head  # where this process's feeds of the agency are: no read needed
        else:
            async with state.unit_of_work(principal.agency_id, read_only=True) as work:
                after = await repo.start(await work.connection())
    return Feed(principal=principal, key_hash=key_hash, listener=listener, after=after)


async def messages(state: AppState, feed: Feed) -> AsyncIterator[bytes]:
    """The feed's SSE messages until the server stops (or the client leaves)."""
    heartbeat = state.settings.stream_heartbeat_seconds
    announcements = state.announcements
    listener = feed.listener
    with following(state, feed.principal.agency_id) as tail:
        # The start position goes first: a client that reconnects resumes from it.
        yield f"retry: {RETRY_MS}\nid: {feed.after}\n\n".encode()
        position = feed.after
        last_sent = time.monotonic()
        # A revoked or expired key ends its streams within REVOKED_WITHIN seconds, as it
        # stops its requests: the key cache may be CIT_CACHE_TTL_SECONDS behind.
        check_every = max(0.5, REVOKED_WITHIN - state.settings.cache_ttl_seconds)
        next_check = time.monotonic() + check_every
        while not announcements.closed and not tail.ended:
            changed = tail.changed
            frames: list[bytes] = []
            again = False
            try:
                if time.monotonic() >= next_check:
                    valid = auth.still_valid(state, feed.key_hash, feed.principal)
                    if not await uncancelled(valid):
                        return
                    next_check = time.monotonic() + check_every
                kept = tail.since(position)
                if kept is None and tail.floor is not None:
                    # Behind what the tail keeps: read the database until caught up.
                    batch = await uncancelled(_read(state, feed, position))
                    frames = [message(s) for s in batch.events if _hears(listener, s)]
                    position = batch.complete_to
                    again = batch.more or tail.since(position) is None
            except Exception as exc:
                # The client reconnects with its Last-Event-ID, here or elsewhere.
                log_failure(log, "live feed cannot read the database; ending it", exc)
                return
            if kept is not None:
                frames = [entry.frame for entry in kept if _hears(listener, entry.stored)]
                if tail.head is not None and tail.head > position:
                    position = tail.head
            if frames:
                yield b"".join(frames)
                last_sent = time.monotonic()
            wait = min(heartbeat - (time.monotonic() - last_sent), next_check - time.monotonic())
            if again:
                continue
            if wait > 0 and not changed.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), timeout=wait)
            if not changed.is_set() and time.monotonic() - last_sent >= heartbeat:
                yield b": keep-alive\n\n"
                last_sent = time.monotonic()


def _hears(listener: Listener, stored: StoredEvent) -> bool:
    return hears(listener, stored.event, units_on_call=stored.units_on_call)


async def _read(state: AppState, feed: Feed, position: Position) -> repo.Batch:
    """The events after position, in a short read-only transaction of the caller's agency.

    At most a quarter of the pool serves feeds at once, so hundreds of feeds catching up
    leave requests their connections.
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
