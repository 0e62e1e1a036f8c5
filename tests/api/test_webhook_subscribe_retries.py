"""A subscribe retried with its Idempotency-Key (the first answer lost to a timeout) makes
no second subscription: each event would otherwise reach the receiver twice, under two
`webhook-id`s it cannot tell apart."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
from standardwebhooks import Webhook

from app.encryption import SUBSCRIPTION_SECRET, DataCipher, generate_key
from tests.conftest import ServiceFactory
from tests.helpers import Api, add_co_responder, grid_districts
from tests.receiver import Receiver


def _keyed(api: Api, key: str) -> dict[str, str]:
    return {**api.headers, "Idempotency-Key": key}


async def _subscribe(api: Api, body: dict[str, Any], key: str) -> Any:
    return await api.client.post("/v1/webhooks", json=body, headers=_keyed(api, key))


async def test_a_retried_subscribe_answers_the_first_and_each_event_is_sent_once(
    admin: Api, receiver: Receiver, service: ServiceFactory, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    body = {"url": receiver.url, "events": ["call.created"]}
    first = await _subscribe(admin, body, "sub-1")
    again = await _subscribe(admin, body, "sub-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await db.fetchval("SELECT count(*) FROM webhook_subscription") == 1
    # The key keeps the answer but not the secret, which stays encrypted in its row alone.
    stored = await db.fetchval("SELECT response_body::text FROM idempotency_record")
    assert first.json()["id"] in stored
    assert first.json()["secret"] not in stored
    async with service():
        call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        (received,) = await receiver.wait_for(1)
    Webhook(again.json()["secret"]).verify(received.body, received.headers)
    assert call["id"] in received.body.decode()
    assert await db.fetchval("SELECT count(*) FROM webhook_delivery") == 1
    # The trail tells the retry from the subscribe.
    trail = (await admin.ok("GET", "/v1/audit?action=webhook.create"))["items"]
    assert [(e["resource_id"], e["detail"].get("replayed")) for e in trail] == [
        (first.json()["id"], True),
        (first.json()["id"], None),
    ]


async def test_a_retry_after_a_rotation_is_409_and_never_shows_the_new_secret(
    admin: Api,
) -> None:
    """A secret is shown once: the one that replaced a leaked secret must not be read by
    replaying the subscribe that made the leaked one."""
    body = {"url": "http://127.0.0.1:9/hooks", "events": ["call.created"]}
    first = (await _subscribe(admin, body, "sub-2")).json()
    rotated = await admin.ok(
        "POST", f"/v1/webhooks/{first['id']}/secret", {"keep_previous_seconds": 0}
    )
    again = await _subscribe(admin, body, "sub-2")
    assert again.status_code == 409, again.text
    assert rotated["secret"] not in again.text
    assert first["secret"] not in again.text
    assert f"POST /v1/webhooks/{first['id']}/secret" in again.json()["detail"]


async def test_a_retry_answers_the_first_answer_though_the_subscription_changed_since(
    admin: Api,
) -> None:
    """The answer the lost response was: the subscription as made, with its secret (the
    one that still signs). Its state now is GET /v1/webhooks/{id}."""
    body = {"url": "http://127.0.0.1:9/hooks", "events": ["call.created"]}
    first = (await _subscribe(admin, body, "sub-6")).json()
    moved = {"url": "http://127.0.0.1:9/moved", "active": False}
    await admin.ok("PATCH", f"/v1/webhooks/{first['id']}", moved)
    again = await _subscribe(admin, body, "sub-6")
    assert again.status_code == 201
    assert again.json() == first


async def test_identical_subscribes_at_once_make_one_subscription(
    admin: Api, db: asyncpg.Connection
) -> None:
    body = {"url": "http://127.0.0.1:9/hooks", "events": ["call.created"]}
    answers = await asyncio.gather(*(_subscribe(admin, body, "storm") for _ in range(8)))
    codes = [a.status_code for a in answers]
    assert set(codes) <= {201, 409}
    assert len({a.json()["id"] for a in answers if a.status_code == 201}) == 1
    in_flight = [a.json()["type"] for a in answers if a.status_code == 409]
    assert all(t.endswith("/request-in-progress") for t in in_flight)
    assert await db.fetchval("SELECT count(*) FROM webhook_subscription") == 1


async def test_a_retry_after_the_subscription_was_deleted_is_409_and_subscribes_nothing(
    admin: Api, db: asyncpg.Connection
) -> None:
    body = {"url": "http://127.0.0.1:9/hooks", "events": ["call.created"]}
    first = (await _subscribe(admin, body, "sub-3")).json()
    assert (await admin.delete(f"/v1/webhooks/{first['id']}")).status_code == 204
    again = await _subscribe(admin, body, "sub-3")
    assert again.status_code == 409, again.text
    assert again.headers["content-type"] == "application/problem+json"
    assert first["id"] in again.json()["detail"]
    assert "new key" in again.json()["detail"]
    assert "retry-after" not in again.headers
    assert await db.fetchval("SELECT count(*) FROM webhook_subscription") == 0


async def test_a_retry_whose_secret_no_key_decrypts_is_409_naming_the_rotation(
    admin: Api, db: asyncpg.Connection
) -> None:
    body = {"url": "http://127.0.0.1:9/hooks", "events": ["call.created"]}
    first = (await _subscribe(admin, body, "sub-4")).json()
    lost = DataCipher.from_setting(generate_key())
    await db.execute(
        "UPDATE webhook_subscription SET secret = $1",
        lost.encrypt(first["secret"], column=SUBSCRIPTION_SECRET, row_id=uuid.UUID(first["id"])),
    )
    again = await _subscribe(admin, body, "sub-4")
    assert again.status_code == 409, again.text
    assert f"POST /v1/webhooks/{first['id']}/secret" in again.json()["detail"]


async def test_the_key_with_another_subscription_is_422_and_subscribes_nothing(
    admin: Api, db: asyncpg.Connection
) -> None:
    await _subscribe(admin, {"url": "http://127.0.0.1:9/a", "events": ["call.created"]}, "k")
    other = await _subscribe(
        admin, {"url": "http://127.0.0.1:9/b", "events": ["call.created"]}, "k"
    )
    assert other.status_code == 422
    assert other.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert await db.fetchval("SELECT count(*) FROM webhook_subscription") == 1
    # A key is one request's, whatever the route: a call under it is another request.
    call = await admin.client.post("/v1/calls", json={"district": "D1"}, headers=_keyed(admin, "k"))
    assert call.status_code == 422


async def test_a_retry_spelling_the_same_subscription_otherwise_is_the_same_request(
    admin: Api, db: asyncpg.Connection
) -> None:
    """A client that rebuilds its body for the retry (its events from a set, say) asks for
    the subscription the service made: events in another order or twice, an upper-case
    scheme. A 422 would leave it not knowing whether it is subscribed."""
    events = ["call.created", "call.updated", "unit.assigned"]
    body = {"url": "http://127.0.0.1:9/cad", "events": events}
    first = await _subscribe(admin, body, "sub-6")
    assert first.status_code == 201, first.text
    assert first.json()["events"] == events
    respelt = {"url": "HTTP://127.0.0.1:9/cad", "events": [*reversed(events), "call.created"]}
    again = await _subscribe(admin, respelt, "sub-6")
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert await db.fetchval("SELECT count(*) FROM webhook_subscription") == 1
    # What the fingerprint treats as one is what the service stores.
    assert await db.fetchrow("SELECT url, events FROM webhook_subscription") == (
        "http://127.0.0.1:9/cad",
        events,
    )


async def test_a_refused_subscribe_frees_its_key_for_the_corrected_request(
    admin: Api, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    unit = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    body = {"url": "http://127.0.0.1:9/mct-1", "events": ["unit.assigned"]}
    unknown = await _subscribe(admin, {**body, "responder_id": str(uuid.uuid4())}, "sub-5")
    assert unknown.status_code == 422
    assert await db.fetchval("SELECT count(*) FROM idempotency_record") == 0
    made = await _subscribe(admin, {**body, "responder_id": unit}, "sub-5")
    assert made.status_code == 201, made.text
    assert made.json()["responder_id"] == unit


async def test_the_document_says_a_subscribe_takes_a_key_and_its_201_may_be_a_replay(
    admin: Api,
) -> None:
    document = (await admin.client.get("/openapi.json")).json()
    operation = document["paths"]["/v1/webhooks"]["post"]
    assert "Idempotency-Key" in [p["name"] for p in operation["parameters"]]
    replayable = {
        s for s, r in operation["responses"].items() if "Idempotent-Replayed" in r["headers"]
    }
    assert replayable == {"201"}
    assert "Retry-After" in operation["responses"]["409"]["headers"]
