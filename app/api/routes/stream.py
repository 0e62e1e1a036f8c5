"""GET /v1/stream: the live feed for consoles and terminals, as Server-Sent Events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from app.api.callers import stream_caller_by_key, stream_caller_by_ticket
from app.api.deps import Audit, Bearer, Caller, State, Work
from app.api.problems import problems, quoted
from app.api.strict_json import StrictJSONRoute
from app.errors import Invalid, ServiceUnavailable, TooManyRequests
from app.limits import Slots
from app.schemas.common import worded
from app.schemas.stream import StreamTicketOut
from app.services import stream as service
from app.services import stream_tickets as tickets
from app.vocabulary import EVENT_TYPES, EventType

router = APIRouter(prefix="/v1", tags=["stream"], route_class=StrictJSONRoute)

PATH = "/v1/stream"
MEDIA_TYPE = "text/event-stream"
# Seconds a client refused for the cap should wait before trying again.
FULL_RETRY_AFTER = 5


class EventStreamResponse(StreamingResponse):
    """An SSE stream that gives its slot back however it ends (even before it began)."""

    media_type = MEDIA_TYPE

    def __init__(self, content: AsyncIterator[bytes], *, slots: Slots, holder: object) -> None:
        # Tell proxies (nginx) to pass each message on at once.
        super().__init__(content, headers={"X-Accel-Buffering": "no"})
        self._slots = slots
        self._holder = holder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._slots.give_back(self._holder)


def _types(values: list[str] | None) -> frozenset[EventType] | None:
    """?types= repeated or comma-separated; None (every type) when none is given."""
    if not values:
        return None
    # In the order sent, once each: the 422 names the first unknown ones.
    named = dict.fromkeys(part.strip() for value in values for part in value.split(","))
    named.pop("", None)
    unknown = [t for t in named if t not in _FEED_TYPES]
    if unknown or not named:
        raise Invalid(_unknown_types(unknown), loc=("query", "types"))
    return frozenset(t for t in EVENT_TYPES if t in named)


_FEED_TYPES = frozenset(EVENT_TYPES)
# How many unknown values the 422 names; the rest are counted. A client may send thousands.
_NAMED = 5


def _unknown_types(unknown: list[str]) -> str:
    """The 422's message: the unknown values as sent, each quoted as an error shows input
    (cut, controls replaced, invisible characters escaped: problems.quoted), the first
    five; and the names the feed knows."""
    feed = ", ".join(EVENT_TYPES)
    if not unknown:
        return f"No event type named: give one or more of {feed}, or leave types out for all"
    listed = ", ".join(quoted(t) for t in unknown[:_NAMED])
    more = len(unknown) - _NAMED
    if more > 0:
        listed += f" and {more} more"
    plural = "s" if len(unknown) > 1 else ""
    return f"Unknown event type{plural} {listed}; the feed's types are {feed}"


_EVENT_STREAM: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-Sent Events: one message per event (`id`, `event`, `data`), "
        "and a comment line when quiet.",
        "content": {MEDIA_TYPE: {"schema": {"type": "string"}}},
    }
}


# What a ticket may look like (app/security.py generate_ticket): anything else is a 422
# before any lookup.
_TICKET_PATTERN = worded(
    r"^cst_[A-Za-z0-9_-]{43}$", "a stream ticket as POST /v1/stream/tickets gives one"
)


@router.post(
    "/stream/tickets",
    summary="Get a stream ticket (for EventSource)",
    status_code=201,
    responses=problems(401, 403, 413, 422, 429, 503),
)
async def create_ticket(who: Caller, work: Work, audit: Audit) -> StreamTicketOut:
    """Trade the key for a stream ticket: it opens one stream (`GET /v1/stream?ticket=`)
    without an Authorization header, as a browser's EventSource must, within 30 seconds.
    The stream acts as this key, and ends when the key is revoked."""
    issued = await tickets.issue(work, who)
    audit.identify(who.key_id, {"expires_at": issued.expires_at.isoformat()})
    return issued


@router.get(
    "/stream",
    summary="Live feed of events (Server-Sent Events)",
    response_class=EventStreamResponse,
    status_code=200,
    responses={**_EVENT_STREAM, **problems(401, 403, 422, 429, 503)},
)
async def stream(
    request: Request,
    credentials: Bearer,
    state: State,
    types: Annotated[
        list[str] | None,
        Query(description="Event types to receive, repeated or comma-separated; default all"),
    ] = None,
    ticket: Annotated[
        str | None,
        Query(
            pattern=_TICKET_PATTERN,
            description="A stream ticket (POST /v1/stream/tickets), instead of an "
            "Authorization header: for a browser's EventSource. It is spent on use.",
        ),
    ] = None,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            max_length=64,
            description="Resume after this message's id (what the stream sent as `id:`)",
        ),
    ] = None,
    resume_after: Annotated[
        str | None,
        Query(
            alias="last_event_id",
            max_length=64,
            description="As the Last-Event-ID header, for a client that cannot send one "
            "(a new EventSource); the header wins when both are given",
        ),
    ] = None,
) -> EventStreamResponse:
    """The events the caller may hear, as they commit (see the API guide, "Live feed").

    A unit key gets exactly what its terminal's webhook subscription would. With
    Last-Event-ID the stream resumes after that message: nothing skipped, nothing repeated.
    With a ticket, everything that can be refused without it is checked before it is spent.
    """
    if ticket is None:
        who, key_hash = await stream_caller_by_key(request, state, credentials)
    chosen = _types(types)
    if last_event_id:
        after = service.resume_position(last_event_id, loc=("header", "Last-Event-ID"))
    else:
        after = service.resume_position(resume_after, loc=("query", "last_event_id"))
    if not state.streams.take():
        raise ServiceUnavailable(
            "This instance has as many open streams as it serves; retry shortly",
            retry_after=FULL_RETRY_AFTER,
        )
    try:
        if ticket is not None:
            who, key_hash = await stream_caller_by_ticket(request, state, ticket)
    except BaseException:
        state.streams.give_back()
        raise
    # (With a ticket, known only now: the ticket is spent, and a new one needed.)
    if not state.streams.hold(who.key_id):
        raise TooManyRequests(
            f"This key has {state.settings.max_streams_per_key} streams open on this instance,"
            " as many as one key may (CIT_MAX_STREAMS_PER_KEY): close one, or give each"
            " console a key of its own",
            retry_after=FULL_RETRY_AFTER,
        )
    try:
        feed = await service.open_feed(state, who, key_hash=key_hash, types=chosen, after=after)
    except BaseException:
        state.streams.give_back(who.key_id)
        raise
    return EventStreamResponse(
        service.messages(state, feed), slots=state.streams, holder=who.key_id
    )


def end_streams(app: object) -> None:
    """End the app's open streams, cleanly: the server is stopping."""
    state = getattr(getattr(app, "state", None), "cit", None)
    if state is not None:
        state.announcements.close()
