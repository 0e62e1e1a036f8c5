"""GET /v1/stream: the live feed for consoles and terminals, as Server-Sent Events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from app.api.deps import Caller, Secret, State
from app.api.problems import problems
from app.errors import Invalid, ServiceUnavailable
from app.limits import Slots
from app.services import stream as service
from app.vocabulary import EVENT_TYPES, EventType

router = APIRouter(prefix="/v1", tags=["stream"])

PATH = "/v1/stream"
MEDIA_TYPE = "text/event-stream"
# Seconds a client refused for the cap should wait before trying again.
FULL_RETRY_AFTER = 5


class EventStreamResponse(StreamingResponse):
    """An SSE stream that gives its slot back however it ends (even before it began)."""

    media_type = MEDIA_TYPE

    def __init__(self, content: AsyncIterator[bytes], *, slots: Slots) -> None:
        # Tell proxies (nginx) to pass each message on at once.
        super().__init__(content, headers={"X-Accel-Buffering": "no"})
        self._slots = slots

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._slots.give_back()


def _types(values: list[str] | None) -> frozenset[EventType]:
    """?types= repeated or comma-separated; none means every type."""
    if not values:
        return frozenset(EVENT_TYPES)
    named = {part.strip() for value in values for part in value.split(",") if part.strip()}
    unknown = sorted(named - set(EVENT_TYPES))
    if unknown or not named:
        raise Invalid(
            f"Unknown event types: {', '.join(unknown)}" if unknown else "No event type named",
            loc=("query", "types"),
        )
    return frozenset(t for t in EVENT_TYPES if t in named)


_EVENT_STREAM: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-Sent Events: one message per event (`id`, `event`, `data`), "
        "and a comment line when quiet.",
        "content": {MEDIA_TYPE: {"schema": {"type": "string"}}},
    }
}


@router.get(
    "/stream",
    response_class=EventStreamResponse,
    status_code=200,
    responses={**_EVENT_STREAM, **problems(401, 403, 422, 503)},
)
async def stream(
    who: Caller,
    secret: Secret,
    state: State,
    types: Annotated[
        list[str] | None,
        Query(description="Event types to receive, repeated or comma-separated; default all"),
    ] = None,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            max_length=64,
            description="Resume after this message's id (what the stream sent as `id:`)",
        ),
    ] = None,
) -> EventStreamResponse:
    """The events the caller may hear, as they commit (docs/api.md, "Live feed").

    A unit key gets exactly what its terminal's webhook subscription would. With
    Last-Event-ID the stream resumes after that message: nothing skipped, nothing repeated.
    """
    chosen = _types(types)
    if not state.streams.take():
        raise ServiceUnavailable(
            "This instance has as many open streams as it serves; retry shortly",
            retry_after=FULL_RETRY_AFTER,
        )
    try:
        feed = await service.open_feed(
            state, who, secret=secret, types=chosen, last_event_id=last_event_id
        )
    except BaseException:
        state.streams.give_back()
        raise
    return EventStreamResponse(service.messages(state, feed), slots=state.streams)


def end_streams(app: object) -> None:
    """End the app's open streams, cleanly: the server is stopping."""
    state = getattr(getattr(app, "state", None), "cit", None)
    if state is not None:
        state.announcements.close()
