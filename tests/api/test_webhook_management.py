"""Managing a subscription after it is made: read it, turn it off and on, move it, and
rotate its secret with an overlap in which both secrets sign."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from app.encryption import (
    SUBSCRIPTION_PREVIOUS_SECRET,
    SUBSCRIPTION_SECRET,
    DataCipher,
    generate_key,
)
from app.services import housekeeping
from tests.conftest import ServiceFactory
from tests.helpers import Api, add_co_responder, grid_districts, subscribe, until_delivery
from tests.receiver import Received, Receiver


def _verifies(secret: str, received: Received) -> bool:
    try:
        Webhook(secret).verify(received.body, received.headers)
    except WebhookVerificationError:
        return False
    return True


async def _trail(api: Api, action: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await api.ok("GET", f"/v1/audit?action={action}"))["items"]
    return items


async def test_a_paused_subscription_gets_no_deliveries_until_it_is_turned_on(
    admin: Api, receiver: Receiver, service: ServiceFactory, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    sub = await subscribe(admin, receiver.url, ["call.created"])
    paused = await admin.ok("PATCH", f"/v1/webhooks/{sub['id']}", {"active": False})
    assert (paused["active"], paused["disabled_reason"]) == (False, "paused by request")
    await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    assert await db.fetchval("SELECT count(*) FROM webhook_delivery") == 0
    # Sending what it already holds changes nothing (the trail, newest first, says so).
    assert await admin.ok("PATCH", f"/v1/webhooks/{sub['id']}", {"active": False}) == paused
    trail = await _trail(admin, "webhook.update")
    assert [e["detail"]["changed"] for e in trail] == [{}, {"active": {"from": True, "to": False}}]
    await admin.ok("PATCH", f"/v1/webhooks/{sub['id']}", {"active": True})
    async with service():
        call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        (received,) = await receiver.wait_for(1)
    assert _verifies(sub["secret"], received)
    assert call["id"] in received.body.decode()


async def test_pending_deliveries_fail_as_their_subscription_is_paused_or_stops_hearing_them(
    admin: Api, receiver: Receiver, service: ServiceFactory, db: asyncpg.Connection
) -> None:
    """They failed only when next due (hours ahead, on the retry schedule), and a
    subscription turned back on before then sent them after all (outside-in check)."""
    await grid_districts(admin)
    sub = await subscribe(admin, receiver.url, ["call.created", "recommendation.created"])
    await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)  # no relay runs yet

    async def deliveries() -> list[tuple[str, str, int, str | None]]:
        rows = await db.fetch(
            "SELECT e.type, d.status, d.attempts, d.last_error FROM webhook_delivery d"
            " JOIN event e ON e.id = d.event_id ORDER BY e.type, d.id"
        )
        return [(r["type"], r["status"], r["attempts"], r["last_error"]) for r in rows]

    await admin.ok("PATCH", f"/v1/webhooks/{sub['id']}", {"events": ["call.created"]})
    assert await deliveries() == [
        ("call.created", "pending", 0, None),
        ("recommendation.created", "failed", 0, "recommendation.created is no longer subscribed"),
    ]
    await admin.ok("PATCH", f"/v1/webhooks/{sub['id']}", {"active": False})
    assert (await deliveries())[0] == ("call.created", "failed", 0, "subscription disabled")
    trail = await _trail(admin, "webhook.update")  # newest first
    assert [e["detail"].get("failed_deliveries") for e in trail] == [1, 1]
    listed = await admin.ok("GET", f"/v1/webhooks/{sub['id']}/deliveries")
    assert {(d["status"], d["next_attempt_at"]) for d in listed["items"]} == {("failed", None)}
    await admin.ok("PATCH", f"/v1/webhooks/{sub['id']}", {"active": True})
    async with service():
        call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        (received,) = await receiver.wait_for(1)
    # Only the new call's event: the failed ones stay failed.
    assert call["id"] in received.body.decode()
    assert len(receiver.requests) == 1


async def test_the_delivery_log_lists_those_of_one_status(admin: Api, receiver: Receiver) -> None:
    """After an outage, the failed ones among thousands delivered: `?status=` was a 422."""
    await grid_districts(admin)
    sub = await subscribe(admin, receiver.url, ["call.created", "recommendation.created"])
    await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)  # no relay runs
    await admin.ok("PATCH", f"/v1/webhooks/{sub['id']}", {"events": ["call.created"]})
    log = f"/v1/webhooks/{sub['id']}/deliveries"

    async def types(status: str) -> list[str]:
        page = await admin.ok("GET", f"{log}?status={status}")
        assert {d["status"] for d in page["items"]} <= {status}
        return [d["event_type"] for d in page["items"]]

    assert await types("failed") == ["recommendation.created"]
    assert await types("pending") == ["call.created"]
    assert await types("delivered") == []
    assert len((await admin.ok("GET", log))["items"]) == 2
    refused = await admin.get(f"{log}?status=lost")
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["loc"] == ["query", "status"]


async def test_a_subscription_moves_to_another_url_and_hears_other_events(
    admin: Api, receiver: Receiver, service: ServiceFactory
) -> None:
    await grid_districts(admin)
    other = Receiver()
    await other.start()
    old_url, new_url = receiver.url, other.url
    try:
        sub = await subscribe(admin, receiver.url, ["call.created"])
        moved = await admin.ok(
            "PATCH",
            f"/v1/webhooks/{sub['id']}",
            {"url": other.url.replace("http://", "HTTP://"), "events": ["call.updated"]},
        )
        assert (moved["url"], moved["events"]) == (other.url, ["call.updated"])
        async with service():
            call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
            await admin.ok("PATCH", f"/v1/calls/{call['id']}", {"nature": "SUICTHRT"})
            (received,) = await other.wait_for(1)
        assert b'"type":"call.updated"' in received.body.replace(b" ", b"")
        assert receiver.requests == []
    finally:
        await other.stop()
    (entry,) = await _trail(admin, "webhook.update")
    assert entry["detail"]["changed"] == {
        "url": {"from": old_url, "to": new_url},
        "events": {"from": ["call.created"], "to": ["call.updated"]},
    }


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"url": None}, "url"),
        ({"events": []}, "events"),
        ({"events": ["call.exploded"]}, "events"),
        ({"url": "ftp://example.org/hook"}, "url"),
        ({"url": "http://user:pw@example.org/hook"}, "url"),
        ({"active": "yes"}, "active"),
        ({"responder_id": None}, "responder_id"),
        ({"secret": "whsec_mine"}, "secret"),
    ],
)
async def test_a_bad_change_is_422_and_changes_nothing(
    admin: Api, receiver: Receiver, body: dict[str, Any], where: str
) -> None:
    sub = await subscribe(admin, receiver.url, ["call.created"])
    before = await admin.ok("GET", f"/v1/webhooks/{sub['id']}")
    response = await admin.patch(f"/v1/webhooks/{sub['id']}", body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert where in response.text
    assert await admin.ok("GET", f"/v1/webhooks/{sub['id']}") == before


async def test_a_terminal_subscription_stays_within_what_a_terminal_hears_and_its_unit(
    admin: Api, receiver: Receiver
) -> None:
    await grid_districts(admin)
    co = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    sub = await subscribe(admin, receiver.url, ["unit.assigned"], responder_id=co)
    wider = await admin.patch(f"/v1/webhooks/{sub['id']}", {"events": ["call.created"]})
    assert wider.status_code == 422
    assert "call.created" in wider.json()["detail"]
    # The co-responder leaves: its terminal's subscription is turned off, and stays off.
    await admin.ok("PATCH", f"/v1/co-responders/{co}", {"active": False})
    off = await admin.ok("GET", f"/v1/webhooks/{sub['id']}")
    assert off["active"] is False
    again = await admin.patch(f"/v1/webhooks/{sub['id']}", {"active": True})
    assert again.status_code == 409
    assert "no longer an active" in again.json()["detail"]
    assert await admin.ok("GET", f"/v1/webhooks/{sub['id']}") == off
    # Back on the roster, it subscribes anew, as it gets new keys: the old device's
    # subscription stays off for good.
    await admin.ok("PATCH", f"/v1/co-responders/{co}", {"active": True})
    still = await admin.patch(f"/v1/webhooks/{sub['id']}", {"active": True})
    assert still.status_code == 409
    assert "for good" in still.json()["detail"]
    assert (await admin.ok("GET", f"/v1/webhooks/{sub['id']}"))["active"] is False


async def test_a_paused_terminal_of_a_unit_that_leaves_is_retired_with_the_rest(
    admin: Api, receiver: Receiver
) -> None:
    await grid_districts(admin)
    co = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    sub = await subscribe(admin, receiver.url, ["unit.assigned"], responder_id=co)
    await admin.ok("PATCH", f"/v1/webhooks/{sub['id']}", {"active": False})
    await admin.ok("PATCH", f"/v1/co-responders/{co}", {"active": False})
    retired = await admin.ok("GET", f"/v1/webhooks/{sub['id']}")
    assert retired["disabled_reason"] == "responder deactivated"
    (entry,) = (await admin.ok("GET", "/v1/audit?action=webhook.disable"))["items"]
    assert entry["resource_id"] == sub["id"]
    await admin.ok("PATCH", f"/v1/co-responders/{co}", {"active": True})
    assert (await admin.patch(f"/v1/webhooks/{sub['id']}", {"active": True})).status_code == 409


async def test_a_terminal_turned_on_at_the_moment_its_unit_leaves_stays_off(
    admin: Api, db: asyncpg.Connection
) -> None:
    """Its responder is locked before the subscription, as a deactivation locks them."""
    await admin.ok("POST", "/v1/districts", {"code": "D1", "name": "x"}, 201)
    hook = {"url": "https://127.0.0.1/mdt-hook", "events": ["unit.assigned"]}
    for round_ in range(8):
        body = {"state_officer_id": f"ON-{round_}", "badge_number": f"N{round_}", "name": "N"}
        officer = (await admin.ok("POST", "/v1/officers", body, 201))["id"]
        sub = await admin.ok("POST", "/v1/webhooks", {**hook, "responder_id": officer}, 201)
        await admin.ok("PATCH", f"/v1/webhooks/{sub['id']}", {"active": False})
        answers = await asyncio.gather(
            *(admin.patch(f"/v1/webhooks/{sub['id']}", {"active": True}) for _ in range(6)),
            admin.patch(f"/v1/officers/{officer}", {"active": False}),
        )
        assert {a.status_code for a in answers[:6]} <= {200, 409}, round_
        assert answers[6].status_code == 200
        active = await db.fetchval(
            "SELECT active FROM webhook_subscription WHERE id = $1", uuid.UUID(sub["id"])
        )
        assert active is False, round_


async def test_a_410_to_a_delivery_sent_before_its_unit_left_keeps_the_terminal_retired(
    admin: Api, receiver: Receiver, service: ServiceFactory, db: asyncpg.Connection
) -> None:
    """The relay's 410 used to replace "responder deactivated", and the old device's
    subscription could then be turned on again (outside-in check)."""
    await grid_districts(admin)
    co = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    sub = await subscribe(admin, receiver.url, ["unit.status_changed"], responder_id=co)
    receiver.hold, receiver.default = asyncio.Event(), 410
    async with service():
        await admin.ok("PUT", f"/v1/co-responders/{co}/status", {"status": "out_of_service"})
        await receiver.wait_for(1)  # in flight, its answer held
        await admin.ok("PATCH", f"/v1/co-responders/{co}", {"active": False})
        receiver.hold.set()
        await until_delivery(db, "status = 'failed'")
    retired = await admin.ok("GET", f"/v1/webhooks/{sub['id']}")
    assert (retired["active"], retired["disabled_reason"]) == (False, "responder deactivated")
    await admin.ok("PATCH", f"/v1/co-responders/{co}", {"active": True})
    assert (await admin.patch(f"/v1/webhooks/{sub['id']}", {"active": True})).status_code == 409


async def test_a_delivery_failed_while_its_subscription_is_off_counts_no_attempt_unsent(
    admin: Api, receiver: Receiver, service: ServiceFactory, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    sub = await subscribe(admin, receiver.url, ["call.created"])
    receiver.default = 500
    async with service(webhook_retry_schedule="1"):
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        sent = await until_delivery(db, "attempts = 1 AND last_status_code = 500")
        await admin.ok("PATCH", f"/v1/webhooks/{sub['id']}", {"active": False})
        failed = await until_delivery(db, "status = 'failed'")
    assert len(receiver.requests) == 1
    assert (failed["attempts"], failed["last_attempt_at"]) == (1, sent["last_attempt_at"])
    assert failed["last_error"] == "subscription disabled"


async def _until_deliveries(db: asyncpg.Connection, condition: str, count: int) -> None:
    query = f"SELECT count(*) FROM webhook_delivery WHERE {condition}"  # noqa: S608
    for _ in range(200):  # up to 10 s
        if await db.fetchval(query) == count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never {count} deliveries met: {condition}")


async def test_a_delivery_under_way_as_its_subscription_is_paused_fails_when_it_fails(
    admin: Api, receiver: Receiver, service: ServiceFactory, db: asyncpg.Connection
) -> None:
    """The pause leaves an attempt under way to its relay. Its failure was scheduled for
    another attempt, which turning the subscription back on before it sent after all
    (review): it fails instead, as those pending at the pause did."""
    await grid_districts(admin)
    sub = await subscribe(admin, receiver.url, ["call.created"])
    receiver.hold, receiver.default = asyncio.Event(), 503
    async with service(webhook_retry_schedule="60"):
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        await receiver.wait_for(1)  # sent; its answer is held
        await admin.ok("PATCH", f"/v1/webhooks/{sub['id']}", {"active": False})
        receiver.hold.set()
        await _until_deliveries(db, "lease_until IS NULL AND attempts = 1", 1)
        await admin.ok("PATCH", f"/v1/webhooks/{sub['id']}", {"active": True})
    row = await db.fetchrow("SELECT status, last_status_code, last_error FROM webhook_delivery")
    assert tuple(row) == ("failed", 503, "subscription disabled")


async def test_the_relay_records_an_attempt_while_its_subscription_is_locked(
    admin: Api, receiver: Receiver, service: ServiceFactory, db: asyncpg.Connection
) -> None:
    """A PATCH failing a large backlog holds its subscription's lock: the relay records
    its attempts all the same (the review found a retry that locked the subscription
    stalling the relay's few connections behind it, every receiver's deliveries with them)."""
    await grid_districts(admin)
    sub = await subscribe(admin, receiver.url, ["call.created"])
    receiver.default = 503
    async with service(webhook_retry_schedule="60"), db.transaction():
        await db.execute(
            "SELECT 1 FROM webhook_subscription WHERE id = $1 FOR NO KEY UPDATE",
            uuid.UUID(sub["id"]),
        )
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        for _ in range(200):  # up to 10 s
            (delivery,) = (await admin.ok("GET", f"/v1/webhooks/{sub['id']}/deliveries"))["items"]
            if delivery["last_status_code"] == 503:
                break
            await asyncio.sleep(0.05)
        assert (delivery["status"], delivery["attempts"]) == ("pending", 1), delivery
        assert delivery["last_status_code"] == 503


async def test_a_receivers_410_fails_the_subscriptions_other_pending_deliveries(
    admin: Api, receiver: Receiver, service: ServiceFactory, db: asyncpg.Connection
) -> None:
    """As a PATCH that turns it off does: turned back on, it sends none of them."""
    await grid_districts(admin)
    await subscribe(admin, receiver.url, ["call.created"])
    receiver.script = [500, 410]
    async with service(webhook_retry_schedule="60"):
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        await _until_deliveries(db, "last_status_code = 500 AND lease_until IS NULL", 1)
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        await _until_deliveries(db, "status = 'failed'", 2)
    rows = await db.fetch(
        "SELECT last_status_code, last_error FROM webhook_delivery ORDER BY created_at"
    )
    assert [tuple(r) for r in rows] == [
        (500, "subscription disabled"),
        (410, "410 Gone: subscription disabled"),
    ]
    assert len(receiver.requests) == 2


async def test_each_delivery_answered_410_says_so_though_another_410_turned_it_off_first(
    admin: Api, receiver: Receiver, service: ServiceFactory, db: asyncpg.Connection
) -> None:
    """Both deliveries of one call in flight, each answered 410: the one recorded second
    said no answer came (last_status_code null, "subscription disabled"), since the first
    410 had failed it as the subscription went off (outside-in check)."""
    await grid_districts(admin)
    sub = await subscribe(admin, receiver.url, ["call.created", "recommendation.created"])
    receiver.hold, receiver.default = asyncio.Event(), 410
    async with service():
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        await receiver.wait_for(2)  # both in flight, their answers held
        receiver.hold.set()
        await _until_deliveries(db, "status = 'failed' AND lease_until IS NULL", 2)
    log = (await admin.ok("GET", f"/v1/webhooks/{sub['id']}/deliveries"))["items"]
    assert sorted(d["event_type"] for d in log) == ["call.created", "recommendation.created"]
    for delivery in log:
        said = (delivery["attempts"], delivery["last_status_code"], delivery["last_error"])
        assert said == (1, 410, "410 Gone: subscription disabled"), delivery
    # One 410 turned it off (the other found it off already).
    (entry,) = await _trail(admin, "webhook.update")
    assert entry["detail"]["disabled_reason"] == "receiver answered 410 Gone"


async def test_an_event_type_dropped_from_a_subscription_is_sent_no_more_even_if_pending(
    admin: Api, receiver: Receiver, service: ServiceFactory, db: asyncpg.Connection
) -> None:
    """A receiver that stops taking an event type got what was pending of it for days of
    retries (outside-in check): it now fails unsent, and is not retried by hand."""
    await grid_districts(admin)
    sub = await subscribe(admin, receiver.url, ["call.created", "recommendation.created"])
    receiver.default = 500
    async with service(webhook_retry_schedule="1,1"):
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        await _until_deliveries(db, "attempts = 1 AND last_status_code = 500", 2)
        await admin.ok("PATCH", f"/v1/webhooks/{sub['id']}", {"events": ["call.created"]})
        receiver.default = 204
        await _until_deliveries(db, "status <> 'pending'", 2)
    rows = await db.fetch(
        "SELECT e.type, d.id, d.status, d.attempts, d.last_error FROM webhook_delivery d"
        " JOIN event e ON e.id = d.event_id ORDER BY e.type"
    )
    assert [(r["type"], r["status"], r["attempts"]) for r in rows] == [
        ("call.created", "delivered", 2),
        ("recommendation.created", "failed", 1),
    ]
    assert rows[1]["last_error"] == "recommendation.created is no longer subscribed"
    sent = [json.loads(r.body)["type"] for r in receiver.requests]
    assert sorted(sent) == ["call.created", "call.created", "recommendation.created"]
    # Retrying it by hand would only fail it again: a 409 saying why, and the bulk retry
    # leaves it alone.
    refused = await admin.post(f"/v1/webhooks/deliveries/{rows[1]['id']}/retry")
    assert refused.status_code == 409
    assert "no longer takes recommendation.created" in refused.json()["detail"]
    await db.execute("UPDATE webhook_delivery SET status = 'failed'")
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    bulk = await admin.ok("POST", f"/v1/webhooks/{sub['id']}/deliveries/retry", {"since": since})
    assert bulk == {"requeued": 1}
    pending = await db.fetch(
        "SELECT d.status, e.type FROM webhook_delivery d JOIN event e"
        " ON e.id = d.event_id ORDER BY e.type"
    )
    assert [(r["type"], r["status"]) for r in pending] == [
        ("call.created", "pending"),
        ("recommendation.created", "failed"),
    ]


async def test_a_rotated_secret_signs_beside_the_old_one_until_the_overlap_ends(
    admin: Api, receiver: Receiver, service: ServiceFactory, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    sub = await subscribe(admin, receiver.url, ["call.created"])
    first = sub["secret"]
    before = datetime.now(UTC)
    rotated = await admin.ok("POST", f"/v1/webhooks/{sub['id']}/secret")
    second = rotated["secret"]
    assert second.startswith("whsec_")
    assert second != first
    until = datetime.fromisoformat(rotated["previous_secret_until"])
    assert before + timedelta(days=1) <= until <= datetime.now(UTC) + timedelta(days=1)
    shown = await admin.ok("GET", f"/v1/webhooks/{sub['id']}")
    assert "secret" not in shown
    assert datetime.fromisoformat(shown["previous_secret_until"]) == until
    async with service():
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        (during,) = await receiver.wait_for(1)
        # Two signatures: a receiver still on the old secret and one already on the new.
        assert len(during.headers["webhook-signature"].split(" ")) == 2
        assert _verifies(first, during)
        assert _verifies(second, during)

        # The overlap runs out: the old secret signs no more.
        await db.execute(
            "UPDATE webhook_subscription SET previous_secret_until = now() - interval '1 s'"
        )
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        after = (await receiver.wait_for(2))[1]
        assert _verifies(second, after)
        assert not _verifies(first, after)
    assert (await admin.ok("GET", f"/v1/webhooks/{sub['id']}"))["previous_secret_until"] is None
    listed = (await admin.ok("GET", "/v1/webhooks"))["items"]
    assert [s["previous_secret_until"] for s in listed] == [None]
    # Housekeeping then forgets it.
    assert await housekeeping.drop_previous_secrets(admin.app.state.cit) == 1
    assert await db.fetchval("SELECT previous_secret FROM webhook_subscription") is None
    (entry,) = await _trail(admin, "webhook.rotate_secret")
    assert entry["resource_id"] == sub["id"]
    assert first not in str(entry)
    assert second not in str(entry)


async def test_a_rotation_retried_keeps_the_old_secret_and_a_leaked_one_stops_at_once(
    admin: Api, receiver: Receiver, service: ServiceFactory, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    sub = await subscribe(admin, receiver.url, ["call.created"])
    # The first answer is lost (a timeout) and the request sent again: receivers still on
    # the original secret must not be cut off by the retry.
    second = (await admin.ok("POST", f"/v1/webhooks/{sub['id']}/secret"))["secret"]
    third = (await admin.ok("POST", f"/v1/webhooks/{sub['id']}/secret", {}))["secret"]
    async with service():
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        (received,) = await receiver.wait_for(1)
        assert _verifies(third, received)
        assert _verifies(sub["secret"], received)
        assert not _verifies(second, received)

        leaked = await admin.ok(
            "POST", f"/v1/webhooks/{sub['id']}/secret", {"keep_previous_seconds": 0}
        )
        assert leaked["previous_secret_until"] is None
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        last = (await receiver.wait_for(2))[1]
    assert last.headers["webhook-signature"].count("v1,") == 1
    assert _verifies(leaked["secret"], last)
    assert not any(_verifies(s, last) for s in (sub["secret"], second, third))
    # Stored encrypted, as the secret is.
    stored = await db.fetchrow("SELECT secret, previous_secret FROM webhook_subscription")
    assert stored["previous_secret"] is None
    assert stored["secret"].startswith("enc:")
    assert leaked["secret"] not in stored["secret"]


@pytest.mark.parametrize("seconds", [-1, 7 * 86_400 + 1, 1.5, "60", True, None])
async def test_a_bad_overlap_is_422_and_keeps_the_secret(
    admin: Api, receiver: Receiver, db: asyncpg.Connection, seconds: Any
) -> None:
    sub = await subscribe(admin, receiver.url, ["call.created"])
    stored = await db.fetchval("SELECT secret FROM webhook_subscription")
    response = await admin.post(
        f"/v1/webhooks/{sub['id']}/secret", {"keep_previous_seconds": seconds}
    )
    assert response.status_code == 422, response.text
    assert "keep_previous_seconds" in response.text
    assert (await admin.ok("GET", f"/v1/webhooks/{sub['id']}"))["previous_secret_until"] is None
    assert await db.fetchval("SELECT secret FROM webhook_subscription") == stored
    (refused,) = await _trail(admin, "webhook.rotate_secret")
    assert refused["outcome"] == "error"


async def test_a_secret_no_key_decrypts_is_replaced_at_once_and_never_stops_the_other(
    admin: Api, receiver: Receiver, service: ServiceFactory, db: asyncpg.Connection
) -> None:
    """Rotating is what an operator does once a data key is lost: it must not fail."""
    await grid_districts(admin)
    sub = await subscribe(admin, receiver.url, ["call.created"])
    row_id = uuid.UUID(sub["id"])
    lost = DataCipher.from_setting(generate_key())
    await db.execute(
        "UPDATE webhook_subscription SET secret = $1",
        lost.encrypt(sub["secret"], column=SUBSCRIPTION_SECRET, row_id=row_id),
    )
    rotated = await admin.ok("POST", f"/v1/webhooks/{sub['id']}/secret")
    assert rotated["previous_secret_until"] is None
    # A previous secret that no key decrypts: the current one still signs every delivery.
    again = await admin.ok("POST", f"/v1/webhooks/{sub['id']}/secret")
    await db.execute(
        "UPDATE webhook_subscription SET previous_secret = $1",
        lost.encrypt("whsec_AAAA", column=SUBSCRIPTION_PREVIOUS_SECRET, row_id=row_id),
    )
    async with service():
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        (received,) = await receiver.wait_for(1)
    assert received.headers["webhook-signature"].count("v1,") == 1
    assert _verifies(again["secret"], received)
    log = await admin.ok("GET", f"/v1/webhooks/{sub['id']}/deliveries")
    assert [d["status"] for d in log["items"]] == ["delivered"]


async def test_an_unknown_subscription_is_404(admin: Api) -> None:
    missing = "0190b3d2-0000-7000-8000-000000000000"
    for method, path, body in (
        ("GET", f"/v1/webhooks/{missing}", None),
        ("PATCH", f"/v1/webhooks/{missing}", {"active": True}),
        ("POST", f"/v1/webhooks/{missing}/secret", None),
    ):
        response = await admin.client.request(method, path, json=body, headers=admin.headers)
        assert response.status_code == 404, (method, path, response.text)


async def test_failed_deliveries_since_an_outage_are_resent_in_one_request(
    admin: Api, receiver: Receiver, service: ServiceFactory, db: asyncpg.Connection
) -> None:
    # The CAD's receiver was down over a weekend: every delivery of that time failed after
    # its last attempt. Back up, it asks for what it missed since the outage began, and
    # nothing from before it.
    await grid_districts(admin)
    sub = await subscribe(admin, receiver.url, ["call.created"])
    path = f"/v1/webhooks/{sub['id']}/deliveries/retry"
    receiver.default = 500
    async with service(webhook_retry_schedule="0.1"):
        before = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        await until_delivery(db, "status = 'failed'")
        missed = [await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201) for _ in range(3)]
        await until_delivery(
            db, "(SELECT count(*) FROM webhook_delivery WHERE status = 'failed') = 4"
        )
        assert len(receiver.requests) == 8  # two attempts each
        # The log says no attempt is next for a failed delivery (not a time already past).
        log = (await admin.ok("GET", f"/v1/webhooks/{sub['id']}/deliveries"))["items"]
        assert [(d["status"], d["attempts"], d["next_attempt_at"]) for d in log] == [
            ("failed", 2, None)
        ] * 4
        # Turned off, nothing is resent (it would fail again, unsent).
        await admin.ok("PATCH", f"/v1/webhooks/{sub['id']}", {"active": False})
        refused = await admin.post(path, {"since": missed[0]["created_at"]})
        assert refused.status_code == 409
        await admin.ok("PATCH", f"/v1/webhooks/{sub['id']}", {"active": True})
        # The request must say since when: nothing older is resent by accident.
        for bad in ({}, {"since": "last friday"}, {"since": "2026-12-01"}, {"since": None}):
            assert (await admin.post(path, bad)).status_code == 422, bad
        failed = "SELECT count(*) FROM webhook_delivery WHERE status = 'failed'"
        assert await db.fetchval(failed) == 4

        receiver.default = 200
        since = datetime.fromisoformat(missed[0]["created_at"]).isoformat()
        answer = await admin.ok("POST", path, {"since": missed[0]["created_at"]})
        assert answer == {"requeued": 3}
        resent = (await receiver.wait_for(11))[8:]
        assert sorted(json.loads(r.body)["data"]["call_id"] for r in resent) == sorted(
            call["id"] for call in missed
        )
        await until_delivery(
            db, "(SELECT count(*) FROM webhook_delivery WHERE status = 'delivered') = 3"
        )
        # Delivered now, they are not sent a second time; the one before the outage waits.
        assert await admin.ok("POST", path, {"since": missed[0]["created_at"]}) == {"requeued": 0}
        await asyncio.sleep(0.5)
    assert len(receiver.requests) == 11
    [old] = await db.fetch("SELECT * FROM webhook_delivery WHERE status = 'failed'")
    assert str(old["event_id"]) == str(
        await db.fetchval(
            "SELECT id FROM event WHERE type = 'call.created' AND call_id = $1",
            uuid.UUID(before["id"]),
        )
    )
    # Since the dawn of time (before 1970 too): everything failed, the old one now.
    dawn = "0001-01-05T00:00:00Z"
    assert await admin.ok("POST", path, {"since": dawn}) == {"requeued": 1}
    # The trail, newest first: the three that ran, and the refusals (the 409, the 422s).
    trail = await _trail(admin, "webhook.retry_failed")
    ran = [e for e in trail if e["outcome"] == "success"]
    assert [e["detail"] for e in ran] == [
        {"since": datetime.fromisoformat(dawn).isoformat(), "requeued": 1},
        {"since": since, "requeued": 0},
        {"since": since, "requeued": 3},
    ]
    assert {e["resource_id"] for e in ran} == {sub["id"]}
    assert len(trail) == 3 + 1 + 4


async def test_failed_deliveries_are_resent_by_their_events_time_not_their_rows(
    admin: Api, db: asyncpg.Connection
) -> None:
    # `since` is the time in the events' bodies. A request that ran long wrote its event's
    # delivery after that time; an instance whose clock runs ahead wrote one before it.
    await grid_districts(admin)
    sub = await subscribe(admin, "http://127.0.0.1:9/hook", ["call.created"])
    calls = [await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201) for _ in range(3)]
    await db.execute("UPDATE webhook_delivery SET status = 'failed', attempts = 8")
    since = datetime.fromisoformat(calls[1]["created_at"])
    event_of = "SELECT id FROM event WHERE type = 'call.created' AND call_id = $1"
    first, middle, last = [await db.fetchval(event_of, uuid.UUID(c["id"])) for c in calls]
    moved = "UPDATE event SET created_at = $2 WHERE id = $1"
    await db.execute(moved, first, since + timedelta(milliseconds=1))
    await db.execute(moved, last, since - timedelta(milliseconds=1))

    answer = await admin.ok(
        "POST", f"/v1/webhooks/{sub['id']}/deliveries/retry", {"since": calls[1]["created_at"]}
    )
    assert answer == {"requeued": 2}
    rows = await db.fetch("SELECT event_id, status FROM webhook_delivery")
    assert {row["event_id"] for row in rows if row["status"] == "pending"} == {first, middle}
