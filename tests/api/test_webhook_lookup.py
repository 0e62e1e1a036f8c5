"""A resolver that does not answer, or fails for now, as a subscription's URL is checked:
a 503 to try again, never a request held for as long as the system's resolver retries,
and never a 422 telling the client its name leads nowhere."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import asyncpg
import httpcore
import pytest

from app.services import webhooks as service
from app.webhooks import targets
from app.webhooks.sender import Sender
from tests.helpers import Api, subscribe
from tests.receiver import Receiver

_REAL_LOOKUP = socket.getaddrinfo
# The names the injected resolver misbehaves on; every other is looked up for real.
_SICK = ".sick.example"


@pytest.fixture
def released() -> Iterator[threading.Event]:
    """Set as the test ends: lookups the injected resolver holds then return, so their
    threads are free for the next test."""
    event = threading.Event()
    yield event
    event.set()


def _resolver(monkeypatch: pytest.MonkeyPatch, fault: Callable[[], Any]) -> None:
    """socket.getaddrinfo, which the lookup threads call, with fault for the sick names:
    the resolver's fault, injected where the service meets it (no resolver of the machine
    can be made to misbehave). It blocks a real thread, as the resolver's would."""

    def lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        # A numeric-host lookup asks no resolver: the real one answers it, at once.
        numeric = kwargs.get("flags", 0) & socket.AI_NUMERICHOST
        if isinstance(host, str) and host.endswith(_SICK) and not numeric:
            return fault()
        return _REAL_LOOKUP(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", lookup)


def _failing(code: int) -> Callable[[], Any]:
    def fault() -> Any:
        raise socket.gaierror(code, "injected")

    return fault


async def test_a_resolver_that_does_not_answer_is_503_and_subscribes_nothing(
    admin: Api,
    receiver: Receiver,
    db: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
    released: threading.Event,
) -> None:
    sub = await subscribe(admin, receiver.url, ["call.created"])
    monkeypatch.setattr(targets, "LOOKUP_SECONDS", 0.2)
    _resolver(monkeypatch, lambda: released.wait(30))
    body = {"url": f"https://cad{_SICK}/hooks", "events": ["call.created"]}
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


async def test_a_host_whose_lookups_hang_holds_one_thread_and_others_go_on(
    admin: Api,
    other_admin: Api,
    monkeypatch: pytest.MonkeyPatch,
    released: threading.Event,
) -> None:
    """Each lookup given up on still holds its thread until the resolver answers: a
    receiver whose DNS hangs, its subscribe retried (or its 32 deliveries in flight),
    held every lookup thread, and then no other agency's receiver could be looked up
    (reviews of this change). Lookups of one host now share one."""
    monkeypatch.setattr(targets, "LOOKUP_SECONDS", 0.2)
    asked: list[str] = []

    def hang() -> Any:
        asked.append("sick")
        return released.wait(30)

    _resolver(monkeypatch, hang)
    sick = {"url": f"https://cad{_SICK}/hooks", "events": ["call.created"]}
    for _ in range(12):  # more than there are lookup threads
        assert (await admin.post("/v1/webhooks", sick)).status_code == 503
    assert asked == ["sick"]
    # Another agency's receiver, by name: looked up on a thread still free.
    elsewhere = {"url": "http://localhost:9/hooks", "events": ["call.created"]}
    made = await other_admin.post("/v1/webhooks", elsewhere)
    assert made.status_code == 201, made.text
    # An address is no name: no resolver is asked.
    by_address = await admin.post("/v1/webhooks", {**elsewhere, "url": "http://127.0.0.1:9/x"})
    assert by_address.status_code == 201, by_address.text
    assert asked == ["sick"]


async def test_no_transaction_is_held_open_while_a_url_is_looked_up(
    admin: Api,
    receiver: Receiver,
    db: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
    released: threading.Event,
) -> None:
    """A lookup may take seconds (up to LOOKUP_SECONDS): a subscribe, or a change of URL,
    held its pooled connection, in a transaction begun, for as long; a few at once while
    the resolver was slow took connections the calls needed."""
    sub = await subscribe(admin, receiver.url, ["call.created"])
    asked: list[str] = []
    loop, both_asked = asyncio.get_running_loop(), asyncio.Event()

    def slow() -> Any:
        asked.append("sick")
        if len(asked) == 2:
            loop.call_soon_threadsafe(both_asked.set)
        released.wait(30)
        return _REAL_LOOKUP("127.0.0.1", 443, type=socket.SOCK_STREAM)

    _resolver(monkeypatch, slow)
    made = asyncio.create_task(
        admin.post("/v1/webhooks", {"url": f"https://cad{_SICK}/a", "events": ["call.created"]})
    )
    moved = asyncio.create_task(
        admin.patch(f"/v1/webhooks/{sub['id']}", {"url": f"https://crew{_SICK}/b"})
    )
    await asyncio.wait_for(both_asked.wait(), timeout=10)
    held = await db.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
    )
    released.set()
    assert held == 0
    assert (await made).status_code == 201, (await made).text
    assert (await moved).json()["url"] == f"https://crew{_SICK}/b"
    # The URL the subscription has already is not looked up again.
    again = await admin.patch(f"/v1/webhooks/{sub['id']}", {"url": f"https://crew{_SICK}/b"})
    assert again.status_code == 200, again.text
    assert len(asked) == 2


async def test_a_url_changed_by_another_request_meanwhile_is_looked_up_after_all(
    admin: Api, receiver: Receiver, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The URL a change keeps unchecked is the one the subscription has as the change is
    made: another change of it in between (read, then the lookup skipped) must not let a
    name leading nowhere in unchecked."""
    sub = await subscribe(admin, receiver.url, ["call.created"])
    kept = f"https://kept{_SICK}/hooks"  # the subscription's, as if made under older rules
    await db.execute("UPDATE webhook_subscription SET url = $1", kept)
    looked_up_if_new = service._check_if_new

    async def raced(*args: Any, **kwargs: Any) -> bool:
        looked = await looked_up_if_new(*args, **kwargs)
        await db.execute("UPDATE webhook_subscription SET url = $1", receiver.url)
        return looked

    monkeypatch.setattr(service, "_check_if_new", raced)
    _resolver(monkeypatch, _failing(socket.EAI_NONAME))
    back = await admin.patch(f"/v1/webhooks/{sub['id']}", {"url": kept, "active": True})
    assert back.status_code == 422, back.text
    assert await db.fetchval("SELECT url FROM webhook_subscription") == receiver.url


@pytest.mark.parametrize(
    "code",
    [socket.EAI_AGAIN, socket.EAI_FAIL, socket.EAI_SYSTEM, socket.EAI_MEMORY],
    ids=["again", "fail", "system", "memory"],
)
async def test_a_resolver_failing_is_503_not_a_name_that_leads_nowhere(
    admin: Api, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    _resolver(monkeypatch, _failing(code))
    body = {"url": f"https://cad{_SICK}/hooks", "events": ["call.created"]}
    made = await admin.post("/v1/webhooks", body)
    assert made.status_code == 503, made.text
    assert "the resolver failed for now on the URL's host" in made.json()["detail"]
    assert await db.fetchval("SELECT count(*) FROM webhook_subscription") == 0


async def test_a_resolver_saying_the_name_is_unknown_is_422(
    admin: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    _resolver(monkeypatch, _failing(socket.EAI_NONAME))
    body = {"url": f"https://cad{_SICK}/hooks", "events": ["call.created"]}
    made = await admin.post("/v1/webhooks", body)
    assert made.status_code == 422, made.text
    assert made.json()["detail"] == "webhook URL refused: the URL's host does not resolve"


async def test_a_delivery_whose_lookup_fails_for_now_fails_as_a_connection_and_is_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The relay's client: the attempt fails as a refused connection does (the relay
    retries those), not as an address refused (which the relay fails for good)."""
    _resolver(monkeypatch, _failing(socket.EAI_AGAIN))
    backend = targets.network_backend(allow_private=False)
    async with Sender(backend, timeout=5, total=10, max_connections=2, keep_idle=2) as sender:
        with pytest.raises(httpcore.ConnectError, match="the resolver failed for now"):
            await sender.post(f"https://cad{_SICK}/hooks", b"{}", [])


async def test_the_document_tells_of_the_lookups_503(admin: Api) -> None:
    document = (await admin.client.get("/openapi.json")).json()
    for method in ("post", "patch"):
        path = "/v1/webhooks" if method == "post" else "/v1/webhooks/{subscription_id}"
        told = document["paths"][path][method]["responses"]["503"]["description"]
        assert "resolver did not answer within 5 s" in told, method
