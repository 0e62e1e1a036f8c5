"""CutShortMiddleware on its own: which cancelled requests it answers (the end of a
shutdown's grace, before the answer began) and which it lets go (tests/api/test_shutdown.py
drives the real server to the first)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from app.api.middleware import CutShortMiddleware


async def _held(scope: Scope, receive: Receive, send: Send) -> None:
    await asyncio.sleep(3600)


async def _answering(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await asyncio.sleep(3600)


async def _cancelled(app: Any, *, stopping: bool) -> tuple[list[Message], BaseException | None]:
    """What app, behind the middleware, sent when its request was cancelled, and what the
    request's task ended with."""
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    middleware = CutShortMiddleware(app, stopping=lambda: stopping)
    task = asyncio.create_task(middleware({"type": "http"}, receive, send))
    await asyncio.sleep(0.01)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError as exc:
        return sent, exc
    return sent, None


async def test_cancelled_while_stopping_before_its_answer_it_is_answered_503() -> None:
    sent, ended = await _cancelled(_held, stopping=True)
    assert ended is None
    start, body = sent
    assert start["status"] == 503
    assert (b"retry-after", b"1") in start["headers"]
    assert json.loads(body["body"])["type"].endswith("/stopping")


@pytest.mark.parametrize(
    ("inner", "stopping"), [(_answering, True), (_held, False)], ids=["answer-begun", "running"]
)
async def test_an_answer_begun_or_a_cancellation_while_running_is_let_go(
    inner: Any, stopping: bool
) -> None:
    """An answer begun cannot be replaced (the connection is cut, as before); a
    cancellation while the server runs is not the grace's end (nothing cancels requests
    then: it is the task's own business)."""
    sent, ended = await _cancelled(inner, stopping=stopping)
    assert isinstance(ended, asyncio.CancelledError)
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == (
        [200] if inner is _answering else []
    )
