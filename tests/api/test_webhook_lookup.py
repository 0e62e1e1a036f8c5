"""A resolver that does not answer, or fails for now, as a subscription's URL is checked:
a 503 to try again, never a request held for as long as the system's resolver retries,
and never a 422 telling the client its name leads nowhere."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpcore
import pytest

from app.webhooks import targets
from app.webhooks.sender import Sender
from tests.helpers import Api, subscribe
from tests.receiver import Receiver

Lookup = Callable[..., Awaitable[Any]]


def _resolver(monkeypatch: pytest.MonkeyPatch, lookup: Lookup) -> None:
    """The running loop's getaddrinfo replaced by lookup: the resolver's fault, injected
    where the service meets it (no resolver of the machine can be made to misbehave)."""
    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", lookup)


async def _silent(*args: Any, **kwargs: Any) -> Any:
    await asyncio.sleep(3600)


async def _failing_for_now(*args: Any, **kwargs: Any) -> Any:
    raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")


async def test_a_resolver_that_does_not_answer_is_503_and_subscribes_nothing(
    admin: Api, receiver: Receiver, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = await subscribe(admin, receiver.url, ["call.created"])
    monkeypatch.setattr(targets, "LOOKUP_SECONDS", 0.2)
    _resolver(monkeypatch, _silent)
    body = {"url": "https://cad.example.org/hooks", "events": ["call.created"]}
    made = await asyncio.wait_for(admin.post("/v1/webhooks", body), timeout=10)
    assert made.status_code == 503, made.text
    assert made.headers["retry-after"] == "5"
    assert made.headers["content-type"] == "application/problem+json"
    assert made.json()["detail"] == (
        "webhook URL not checked: the resolver did not answer for the URL's host within"
        " 0.2 s; nothing was changed: try again"
    )
    moved = await admin.patch(f"/v1/webhooks/{sub['id']}", {"url": body["url"]})
    assert moved.status_code == 503, moved.text
    assert await db.fetchval("SELECT array_agg(url) FROM webhook_subscription") == [receiver.url]


async def test_a_resolver_failing_for_now_is_503_not_a_name_that_leads_nowhere(
    admin: Api, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    _resolver(monkeypatch, _failing_for_now)
    body = {"url": "https://cad.example.org/hooks", "events": ["call.created"]}
    made = await admin.post("/v1/webhooks", body)
    assert made.status_code == 503, made.text
    assert "the resolver failed for now on the URL's host" in made.json()["detail"]
    assert await db.fetchval("SELECT count(*) FROM webhook_subscription") == 0


async def test_a_delivery_whose_lookup_fails_for_now_fails_as_a_connection_and_is_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The relay's client: the attempt fails as a refused connection does (the relay
    retries those), not as an address refused (which the relay fails for good)."""
    _resolver(monkeypatch, _failing_for_now)
    backend = targets.network_backend(allow_private=False)
    async with Sender(backend, timeout=5, total=10, max_connections=2, keep_idle=2) as sender:
        with pytest.raises(httpcore.ConnectError, match="the resolver failed for now"):
            await sender.post("https://cad.example.org/hooks", b"{}", [])


async def test_the_document_tells_of_the_lookups_503(admin: Api) -> None:
    document = (await admin.client.get("/openapi.json")).json()
    for method in ("post", "patch"):
        path = "/v1/webhooks" if method == "post" else "/v1/webhooks/{subscription_id}"
        told = document["paths"][path][method]["responses"]["503"]["description"]
        assert "resolver did not answer within 5 s" in told, method
