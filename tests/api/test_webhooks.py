"""Webhooks: real HTTP to a loopback receiver, signed, retried, never carrying notes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from app.api.app import create_app
from app.settings import Settings
from app.vocabulary import EVENT_TYPES
from app.webhooks import relay as relay_module
from app.webhooks.relay import PER_TARGET
from app.webhooks.sender import Sender
from app.webhooks.targets import IPAddress, TargetRefused, check_url_shape, network_backend
from tests.conftest import ServiceFactory
from tests.helpers import (
    Api,
    add_co_responder,
    add_officer,
    grid_districts,
    subscribe,
    until_delivery,
    until_delivery_failed,
)
from tests.receiver import Received, Receiver


def _verify(secret: str, received: Received) -> dict[str, Any]:
    payload: dict[str, Any] = Webhook(secret).verify(received.body, received.headers)
    return payload


async def test_unit_terminal_gets_one_signed_delivery_through_two_503s(
    admin: Api, receiver: Receiver, service: ServiceFactory
) -> None:
    await grid_districts(admin)
    co = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    sub = await subscribe(admin, receiver.url, ["unit.assigned"], responder_id=co)
    assert sub["secret"].startswith("whsec_")
    receiver.script = [503, 503]
    async with service():
        call = await admin.ok(
            "POST", "/v1/calls", {"district": "D1", "nature": "MNTL", "notes": "secret-note"}, 201
        )
        await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
        attempts = await receiver.wait_for(3)
    assert len(attempts) == 3
    assert len({a.headers["webhook-id"] for a in attempts}) == 1
    payloads = [_verify(sub["secret"], a) for a in attempts]
    assert all(p["type"] == "unit.assigned" for p in payloads)
    data = payloads[-1]["data"]
    assert data["responder_id"] == co
    assert data["role"] == "lead"
    assert data["call_id"] == call["id"]
    assert data["district"] == "D1"
    assert data["lead"] == "mental_health"
    assert "safety" in data
    assert "notes" not in data
    assert b"secret-note" not in b"".join(a.body for a in attempts)
    log = await admin.ok("GET", f"/v1/webhooks/{sub['id']}/deliveries")
    assert [(d["status"], d["attempts"]) for d in log["items"]] == [("delivered", 3)]


async def test_signature_from_another_secret_does_not_verify(
    admin: Api, receiver: Receiver, service: ServiceFactory
) -> None:
    await grid_districts(admin)
    await subscribe(admin, receiver.url, ["call.created"])
    other = await subscribe(admin, receiver.url + "/other", ["call.updated"])
    async with service():
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        (received,) = await receiver.wait_for(1)
    with pytest.raises(WebhookVerificationError):
        _verify(other["secret"], received)


async def test_agency_wide_subscription_gets_every_named_type_and_nothing_else(
    admin: Api, receiver: Receiver, service: ServiceFactory, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    co = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    await subscribe(admin, receiver.url, ["call.created", "recommendation.created"])
    async with service():
        call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        # Events of other types, which the subscription did not ask for.
        await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
        await admin.ok("PUT", f"/v1/co-responders/{co}/status", {"status": "en_route"})
        await admin.ok("PATCH", f"/v1/calls/{call['id']}", {"nature": "SUICTHRT"})
        # Deliveries are made in the transaction of each change: all exist by now.
        queued = await db.fetch(
            "SELECT e.type FROM webhook_delivery d JOIN event e ON e.id = d.event_id"
        )
        got = await receiver.wait_for(len(queued))
    expected = ["call.created", "recommendation.created", "recommendation.created"]
    assert sorted(r["type"] for r in queued) == expected
    assert sorted(json.loads(r.body)["type"] for r in got) == expected


async def test_delivery_due_during_a_restart_still_arrives(
    admin: Api, receiver: Receiver, service: ServiceFactory, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    sub = await subscribe(admin, receiver.url, ["call.created"])
    receiver.script = [503]
    async with service(webhook_retry_schedule="1"):
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        await receiver.wait_for(1)
    # The service is down; the retry is due now. Nothing should have been lost.
    assert await db.fetchval("SELECT status FROM webhook_delivery") == "pending"
    async with service(webhook_retry_schedule="1"):
        got = await receiver.wait_for(2)
    assert got[0].headers["webhook-id"] == got[1].headers["webhook-id"]
    log = await admin.ok("GET", f"/v1/webhooks/{sub['id']}/deliveries")
    assert log["items"][0]["status"] == "delivered"


async def test_410_disables_the_subscription_until_it_is_turned_on_again(
    admin: Api, receiver: Receiver, service: ServiceFactory, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    sub = await subscribe(admin, receiver.url, ["call.created"])
    receiver.default = 410
    async with service():
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        await receiver.wait_for(1)
        failed = await until_delivery(db, "status = 'failed'")
    listed = (await admin.ok("GET", "/v1/webhooks"))["items"]
    assert listed[0]["id"] == sub["id"]
    assert listed[0]["active"] is False
    assert "410" in listed[0]["disabled_reason"]
    assert await admin.ok("GET", f"/v1/webhooks/{sub['id']}") == listed[0]
    await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    assert await db.fetchval("SELECT count(*) FROM webhook_delivery") == 1
    assert len(receiver.requests) == 1
    # Its failure cannot be retried while it is off, and the 409 says how to turn it on.
    refused = await admin.post(f"/v1/webhooks/deliveries/{failed['id']}/retry")
    assert refused.status_code == 409
    assert '"active": true' in refused.json()["detail"]

    # The receiver is back: turned on, it gets new events, and its failure when retried.
    receiver.default = 200
    on = await admin.ok("PATCH", f"/v1/webhooks/{sub['id']}", {"active": True})
    assert (on["active"], on["disabled_reason"]) == (True, None)
    async with service():
        await admin.ok("POST", f"/v1/webhooks/deliveries/{failed['id']}/retry")
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        await receiver.wait_for(3)
        # Received is not yet recorded: stopped before it read the answer, the relay gives
        # the delivery back, pending (a flake seen under a loaded run).
        await until_delivery(
            db, "(SELECT count(*) FROM webhook_delivery WHERE status <> 'delivered') = 0"
        )
    log = await admin.ok("GET", f"/v1/webhooks/{sub['id']}/deliveries")
    assert [d["status"] for d in log["items"]] == ["delivered", "delivered"]
    # Both changes are in the trail, newest first: who turned it on, and the relay that
    # turned it off when the receiver said 410 (an admin asking why it stopped finds out).
    on_entry, off_entry = (await admin.ok("GET", "/v1/audit?action=webhook.update"))["items"]
    assert on_entry["resource_id"] == off_entry["resource_id"] == sub["id"]
    assert on_entry["detail"]["changed"] == {"active": {"from": False, "to": True}}
    assert (off_entry["role"], off_entry["key_id"], off_entry["outcome"]) == (
        "relay",
        None,
        "success",
    )
    assert off_entry["detail"] == {
        "changed": {"active": {"from": True, "to": False}},
        "disabled_reason": listed[0]["disabled_reason"],
        "via": "relay",
    }


async def test_each_failed_attempt_is_logged_without_the_receivers_url(
    admin: Api,
    receiver: Receiver,
    service: ServiceFactory,
    db: asyncpg.Connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A receiver failing was in the metrics alone, no log line (an operator's check): each
    attempt failed says so, the last as a warning, naming the delivery, not the URL (whose
    query may hold the receiver's token)."""
    await grid_districts(admin)
    url = receiver.url + "?token=s3cret"
    sub = await subscribe(admin, url, ["call.created"])
    receiver.default = 503
    with caplog.at_level(logging.INFO, logger="app.webhooks.outcomes"):
        async with service(webhook_retry_schedule="0.1"):
            await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
            await until_delivery_failed(db)
    said = [r for r in caplog.records if r.name == "app.webhooks.outcomes"]
    assert [(r.levelname, r.getMessage()) for r in said] == [
        ("INFO", "webhook delivery attempt failed; to be retried"),
        ("WARNING", "webhook delivery failed; no attempt left"),
    ]
    assert [getattr(r, "attempt", None) for r in said] == [1, 2]
    assert {getattr(r, "subscription_id", None) for r in said} == {sub["id"]}
    assert {getattr(r, "error", None) for r in said} == {"receiver answered 503"}
    assert not any("s3cret" in str(vars(r)) for r in caplog.records)


async def test_a_delivery_failed_unsent_is_logged(
    admin: Api,
    receiver: Receiver,
    service: ServiceFactory,
    db: asyncpg.Connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A target the relay refuses as it connects (here loopback, the relay no longer
    allowing private targets) fails the delivery unsent: logged too (review)."""
    await grid_districts(admin)
    sub = await subscribe(admin, receiver.url, ["call.created"])
    with caplog.at_level(logging.INFO, logger="app.webhooks.outcomes"):
        async with service(webhook_allow_private_targets=False):
            await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
            await until_delivery_failed(db)
    [said] = [r for r in caplog.records if r.name == "app.webhooks.outcomes"]
    assert (said.levelname, said.getMessage()) == ("WARNING", "webhook delivery failed unsent")
    assert getattr(said, "subscription_id", None) == sub["id"]
    assert "an address that is not public" in getattr(said, "error", "")
    assert receiver.requests == []


async def test_failed_delivery_after_all_attempts_can_be_retried_by_hand(
    admin: Api, receiver: Receiver, service: ServiceFactory, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    sub = await subscribe(admin, receiver.url, ["call.created"])
    receiver.default = 500
    async with service(webhook_retry_schedule="0.1,0.1"):
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        await receiver.wait_for(3)
        await until_delivery_failed(db)
        log = await admin.ok("GET", f"/v1/webhooks/{sub['id']}/deliveries")
        failed = log["items"][0]
        assert (failed["status"], failed["attempts"], failed["last_status_code"]) == (
            "failed",
            3,
            500,
        )
        receiver.default = 200
        retried = await admin.ok("POST", f"/v1/webhooks/deliveries/{failed['id']}/retry")
        assert retried["status"] == "pending"
        await receiver.wait_for(4)
        await until_delivery(db, "status = 'delivered'")
    assert len(receiver.requests) == 4
    # The receiver's webhook-id finds the delivery, as its subscription's log shows it.
    webhook_id = receiver.requests[-1].headers["webhook-id"]
    one = await admin.ok("GET", f"/v1/webhooks/deliveries/{webhook_id}")
    assert one == (await admin.ok("GET", f"/v1/webhooks/{sub['id']}/deliveries"))["items"][0]
    assert (one["id"], one["subscription_id"], one["status"], one["attempts"]) == (
        failed["id"],
        sub["id"],
        "delivered",
        4,
    )
    assert (await admin.get(f"/v1/webhooks/deliveries/{uuid.uuid4()}")).status_code == 404


async def test_a_delivery_being_sent_is_not_sent_again_by_a_retry_asked_meanwhile(
    admin: Api, receiver: Receiver, service: ServiceFactory, db: asyncpg.Connection
) -> None:
    """An operator retrying a delivery a slow receiver is still answering: a second send
    could record a failure over the first one's success. A 409, and one attempt."""
    await grid_districts(admin)
    sub = await subscribe(admin, receiver.url, ["call.created"])
    receiver.hold = asyncio.Event()
    async with service():
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        await receiver.wait_for(1)
        [sending] = (await admin.ok("GET", f"/v1/webhooks/{sub['id']}/deliveries"))["items"]
        assert sending["status"] == "pending"
        refused = await admin.post(f"/v1/webhooks/deliveries/{sending['id']}/retry")
        assert refused.status_code == 409
        assert refused.json()["detail"].startswith("the delivery is being sent now")
        receiver.hold.set()
        await until_delivery(db, "status = 'delivered'")
        await asyncio.sleep(0.5)  # time for a second send, were one under way
    assert len(receiver.requests) == 1
    [done] = (await admin.ok("GET", f"/v1/webhooks/{sub['id']}/deliveries"))["items"]
    assert (done["status"], done["attempts"]) == ("delivered", 1)


async def test_an_attempt_the_relay_fails_to_finish_counts_against_the_schedule(
    admin: Api,
    receiver: Receiver,
    service: ServiceFactory,
    db: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fault in the relay itself, mid-attempt, is retried on the schedule and then fails,
    as a receiver's error is: left to its lease, it was sent again every 30 s for ever."""

    def broken(header: str | None) -> float | None:
        raise RuntimeError("a fault in the relay")

    monkeypatch.setattr(relay_module, "retry_after", broken)
    await grid_districts(admin)
    await subscribe(admin, receiver.url, ["call.created"])
    receiver.default = 503
    async with service(webhook_retry_schedule="0.1"):
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        row = await until_delivery(db, "status = 'failed'")
    assert len(receiver.requests) == 2
    assert row["attempts"] == 2
    assert row["last_error"] == "the relay failed: RuntimeError: a fault in the relay"


@pytest.mark.parametrize("form", ["seconds", "http-date", "asctime"])
async def test_a_retry_waits_as_long_as_the_receivers_retry_after_asks(
    admin: Api, receiver: Receiver, service: ServiceFactory, db: asyncpg.Connection, form: str
) -> None:
    await grid_districts(admin)
    await subscribe(admin, receiver.url, ["call.created"])
    later = datetime.now(UTC) + timedelta(seconds=6)
    # The asctime form is an HTTP-date a receiver may send too (RFC 9110, 5.6.7): it has
    # no zone, and once sent the delivery over and over, every lease, without end.
    receiver.extra_headers = {
        "Retry-After": {
            "seconds": "5",
            "http-date": format_datetime(later, usegmt=True),
            "asctime": later.strftime("%a %b %e %H:%M:%S %Y"),
        }[form]
    }
    receiver.script = [503]
    async with service(webhook_retry_schedule="0.1"):  # the schedule alone: 0.1 s
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        await receiver.wait_for(1)
        row = await until_delivery(db, "attempts = 1 AND last_status_code = 503")
    waited = (row["next_attempt_at"] - row["last_attempt_at"]).total_seconds()
    assert waited >= 4.0
    assert row["status"] == "pending"
    assert len(receiver.requests) == 1


async def test_private_and_metadata_targets_are_refused(
    app: FastAPI, admin: Api, database_url: str, settings: Settings
) -> None:
    strict = create_app(
        settings.model_copy(update={"webhook_allow_private_targets": False}), database_url
    )
    async with strict.router.lifespan_context(strict):
        transport = httpx.ASGITransport(app=strict)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for url in (
                "http://127.0.0.1:9000/hook",
                "http://localhost/hook",
                "http://169.254.169.254/latest/meta-data",
                "http://10.1.2.3/hook",
                "http://[::1]/hook",
                "ftp://example.org/hook",
                "http://user:pw@example.org/hook",
                # A DNS label over 63 characters: the resolver's IDNA step raised UnicodeError.
                "http://" + "a" * 64 + ".example.org/hook",
                # urlsplit raises ValueError for a bracketed host that is not an IP address.
                "http://[zz]/hook",
                "http://[::1/hook",
            ):
                response = await client.post(
                    "/v1/webhooks",
                    json={"url": url, "events": ["call.created"]},
                    headers=admin.headers,
                )
                assert response.status_code == 422, url
    assert (await admin.ok("GET", "/v1/webhooks"))["items"] == []


# Internal addresses the guard once let through: each is refused when subscribing and again
# as a connection is made. Beside each, what it is.
_INTERNAL_TARGETS = {
    "100.64.0.1": "carrier-grade NAT (100.64.0.0/10)",
    "100.127.255.254": "carrier-grade NAT, top of the range",
    "[fec0::1]": "deprecated site-local (fec0::/10)",
    "[feff::1]": "deprecated site-local, top of the range",
    "[2002:a9fe:a9fe::1]": "6to4 around the metadata address 169.254.169.254",
    "[2002:7f00:1::1]": "6to4 around loopback 127.0.0.1",
    "[2002:a00:1::1]": "6to4 around private 10.0.0.1",
    "[2002:6440:1::1]": "6to4 around carrier-grade NAT 100.64.0.1",
    "[::ffff:127.0.0.1]": "IPv4-mapped loopback",
    "[::ffff:100.64.0.1]": "IPv4-mapped carrier-grade NAT",
    "[::ffff:0:a00:1]": "IPv4-translated (SIIT) private 10.0.0.1",
    "[::7f00:1]": "IPv4-compatible loopback",
    "[64:ff9b::7f00:1]": "NAT64 well-known prefix around loopback",
    "[64:ff9b::a9fe:a9fe]": "NAT64 well-known prefix around the metadata address",
    "[64:ff9b:1::a00:1]": "NAT64 local-use prefix (64:ff9b:1::/48)",
    "[2001:0:4136:e378:8000:63bf:3fff:fdd2]": "Teredo (2001::/32)",
}


async def test_internal_ranges_are_refused_when_subscribing(
    admin: Api, database_url: str, settings: Settings, db: asyncpg.Connection
) -> None:
    strict = create_app(
        settings.model_copy(update={"webhook_allow_private_targets": False}), database_url
    )
    async with strict.router.lifespan_context(strict):
        transport = httpx.ASGITransport(app=strict)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:

            async def subscribe(host: str, scheme: str = "https") -> httpx.Response:
                body = {"url": f"{scheme}://{host}/hook", "events": ["call.created"]}
                return await client.post("/v1/webhooks", json=body, headers=admin.headers)

            for host, what in _INTERNAL_TARGETS.items():
                for scheme in ("http", "https"):
                    response = await subscribe(host, scheme)
                    assert response.status_code == 422, what
                    detail = response.json()["detail"]
                    assert detail.endswith("resolves to an address that is not public"), what
            # A name's refusal never says the address it resolved to: a key that may
            # subscribe would map the agency's internal names.
            named = await subscribe("localhost")
            assert named.status_code == 422
            assert "127.0.0.1" not in named.text
            assert "::1" not in named.text
            # Public addresses, 6to4 and IPv4-mapped around a public IPv4 among them, still pass.
            for host in ("8.8.8.8", "[2606:4700::1111]", "[2002:808:808::1]", "[::ffff:8.8.8.8]"):
                assert (await subscribe(host)).status_code == 201, host
                # Over plain http, what a webhook carries of a call would cross networks that
                # are not the agency's unencrypted (security review): refused.
                plain = await subscribe(host, "http")
                assert plain.status_code == 422, host
                assert "the URL must be https://" in plain.json()["detail"], host
            # One made before the rule (written here as the database holds it) stays
            # editable by a client that sends its URL back unchanged; a new one is checked.
            await db.execute(
                "UPDATE webhook_subscription SET url = 'http://8.8.8.8/hook' WHERE url LIKE"
                " 'https://8.8.8.8/%'"
            )
            [legacy] = [
                h
                for h in (await admin.ok("GET", "/v1/webhooks"))["items"]
                if h["url"] == "http://8.8.8.8/hook"
            ]
            path = f"/v1/webhooks/{legacy['id']}"
            kept = await client.patch(
                path, json={"url": "HTTP://8.8.8.8/hook", "active": False}, headers=admin.headers
            )
            assert kept.status_code == 200, kept.text
            moved = await client.patch(
                path, json={"url": "http://8.8.4.4/hook"}, headers=admin.headers
            )
            assert moved.status_code == 422, moved.text
    assert len((await admin.ok("GET", "/v1/webhooks"))["items"]) == 4


@contextlib.asynccontextmanager
async def _relays_client(
    refused: Callable[[IPAddress], bool] | None = None,
) -> AsyncIterator[Sender]:
    """The relay's own HTTP client, on the network backend it runs with in production
    (public addresses only); `refused` narrows what is not public, to reach loopback."""
    backend = (
        network_backend(allow_private=False)
        if refused is None
        else network_backend(allow_private=False, refused=refused)
    )
    async with Sender(backend, timeout=5, total=10, max_connections=10, keep_idle=2) as sender:
        yield sender


async def test_internal_ranges_are_refused_as_connections_are_made() -> None:
    async with _relays_client() as client:
        for host in _INTERNAL_TARGETS:
            with pytest.raises(TargetRefused, match="an address that is not public"):
                await client.post(f"http://{host}:9/hooks", b"{}", [])


async def test_a_url_with_a_control_character_is_refused_when_subscribing(admin: Api) -> None:
    for url in ("http://example.com/a\u0001b", "http://example.com/?q=\u007f"):
        body = {"url": url, "events": ["call.created"]}
        await admin.ok("POST", "/v1/webhooks", body, 422)
    assert (await admin.ok("GET", "/v1/webhooks"))["items"] == []


async def test_a_url_is_refused_readably_and_its_scheme_taken_in_either_case(
    admin: Api, receiver: Receiver
) -> None:
    for url in (f"{receiver.url}#frag", "ftp://example.com/x", "http://user:pw@example.com/"):
        refused = await admin.post("/v1/webhooks", {"url": url, "events": ["call.created"]})
        assert refused.status_code == 422, url
        problem = refused.json()
        assert problem["errors"][0]["loc"] == ["body", "url"]
        assert "https?" not in problem["detail"]  # words, not the pattern
        assert "absolute http:// or https:// URL" in problem["detail"]
    # RFC 3986 §3.1: the scheme is case-insensitive; it is stored in small letters.
    shouted = receiver.url.replace("http://", "HTTP://")
    made = await admin.ok("POST", "/v1/webhooks", {"url": shouted, "events": ["call.created"]}, 201)
    assert made["url"] == receiver.url


async def test_a_url_on_port_0_is_422_as_port_99999_is(admin: Api, receiver: Receiver) -> None:
    """Port 0 was taken (201), though nothing can ever be delivered to it (outside-in check)."""
    for url in ("http://127.0.0.1:0/x", "http://127.0.0.1:000/x", "http://127.0.0.1:99999/x"):
        refused = await admin.post("/v1/webhooks", {"url": url, "events": ["call.created"]})
        assert refused.status_code == 422, url
        problem = refused.json()
        assert problem["errors"][0]["loc"] == ["body", "url"], url
        assert "port from 1 to 65535" in problem["detail"], url
    assert (await admin.ok("GET", "/v1/webhooks"))["items"] == []
    sub = await subscribe(admin, receiver.url, ["call.created"])
    moved = await admin.patch(f"/v1/webhooks/{sub['id']}", {"url": "http://127.0.0.1:0/x"})
    assert moved.status_code == 422, moved.text
    assert "port from 1 to 65535" in moved.json()["detail"]
    assert (await admin.ok("GET", f"/v1/webhooks/{sub['id']}"))["url"] == receiver.url
    # Ports that are not 0, leading zeros and all, are taken as before.
    for url in ("http://127.0.0.1:1/x", "http://127.0.0.1:0080/x"):
        await subscribe(admin, url, ["call.created"])


def test_a_stored_url_on_port_0_is_refused_before_sending_not_sent_to_port_80() -> None:
    """One subscribed before the rule: the relay checks each delivery's URL by its shape
    (app/webhooks/relay.py) and took port 0 for the scheme's default port."""
    with pytest.raises(TargetRefused, match="port 0 is never delivered to"):
        check_url_shape("http://127.0.0.1:0/x")
    assert check_url_shape("https://127.0.0.1/x") == ("127.0.0.1", 443)


async def test_a_terminal_subscription_to_events_it_never_hears_is_422(
    admin: Api, receiver: Receiver
) -> None:
    await grid_districts(admin)
    co = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    body = {
        "url": receiver.url,
        "events": ["unit.assigned", "call.created", "coverage.gap_ahead"],
        "responder_id": co,
    }
    refused = await admin.post("/v1/webhooks", body)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["loc"] == ["body", "events"]
    assert "call.created, coverage.gap_ahead" in refused.json()["detail"]
    heard = ["unit.assigned", "unit.released", "unit.status_changed", "call.updated"]
    await admin.ok("POST", "/v1/webhooks", {**body, "events": [*heard, "call.escalated"]}, 201)


async def test_a_stored_url_the_sender_cannot_parse_fails_at_once_not_after_its_lease(
    admin: Api, receiver: Receiver, service: ServiceFactory, db: asyncpg.Connection
) -> None:
    # Stored before subscribing refused such URLs: the attempt is recorded as failed,
    # not left to the lease (30 s) and tried again for ever.
    await grid_districts(admin)
    await subscribe(admin, receiver.url, ["call.created"])
    await db.execute("UPDATE webhook_subscription SET url = url || chr(1)")
    async with service():
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        await until_delivery_failed(db)
    error = await db.fetchval("SELECT last_error FROM webhook_delivery")
    assert error == "the URL is not valid"
    assert receiver.requests == []


async def test_a_url_stored_with_a_fragment_before_they_were_refused_still_gets_its_events(
    admin: Api, receiver: Receiver, service: ServiceFactory, db: asyncpg.Connection
) -> None:
    # Subscribing refuses a #fragment now; one stored before is sent to without it, as
    # it always was, not failed at every attempt.
    await grid_districts(admin)
    await subscribe(admin, receiver.url, ["call.created"])
    await db.execute("UPDATE webhook_subscription SET url = url || '#frag'")
    async with service():
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        (request,) = await receiver.wait_for(1)
    assert request.headers["webhook-id"]


async def test_a_target_that_turns_private_after_subscribing_gets_nothing(
    admin: Api, receiver: Receiver, service: ServiceFactory, db: asyncpg.Connection
) -> None:
    # Subscribed while loopback was allowed, as a name that rebinds to a private address
    # would pass the check at subscription; the strict relay must still not send.
    await grid_districts(admin)
    await subscribe(admin, receiver.url, ["call.created"])
    async with service(webhook_allow_private_targets=False):
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        failed = await until_delivery(db, "status = 'failed'")
    assert "an address that is not public" in failed["last_error"]
    assert receiver.requests == []
    # Nothing was sent, so the log must not say it tried.
    assert (failed["attempts"], failed["last_attempt_at"]) == (0, None)


async def test_a_host_that_does_not_resolve_is_retried_not_failed(
    admin: Api, receiver: Receiver, service: ServiceFactory, db: asyncpg.Connection
) -> None:
    # The name resolved when subscribing; at sending time it does not (a resolver's outage
    # looks the same). The attempt fails as a refused connection would, and is retried.
    await grid_districts(admin)
    await subscribe(admin, receiver.url, ["call.created"])
    await db.execute(
        "UPDATE webhook_subscription SET url = replace(url, '127.0.0.1', 'cit-receiver.invalid')"
    )
    async with service(webhook_allow_private_targets=False):
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        row = await until_delivery(db, "last_error IS NOT NULL")
    assert row["status"] == "pending"
    assert row["attempts"] == 1
    assert row["next_attempt_at"] > row["last_attempt_at"]
    assert row["last_error"] == "ConnectError: the URL's host does not resolve"


async def test_a_host_that_does_not_resolve_is_422_even_where_private_targets_are_allowed(
    admin: Api, receiver: Receiver, settings: Settings
) -> None:
    """An agency with receivers on its own network turns the flag on (as these tests do);
    a mistyped host was then taken (201) and showed only as failed deliveries (outside-in
    check). The flag allows private addresses; the host must still resolve."""
    assert settings.webhook_allow_private_targets
    mistyped = "https://no-such-host.invalid/x"  # .invalid never resolves (RFC 6761)
    refused = await admin.post("/v1/webhooks", {"url": mistyped, "events": ["call.created"]})
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["detail"] == "webhook URL refused: the URL's host does not resolve"
    assert problem["errors"][0]["loc"] == ["body", "url"]
    assert (await admin.ok("GET", "/v1/webhooks"))["items"] == []
    # Moving a subscription there is refused the same way, and moves nothing.
    sub = await subscribe(admin, receiver.url, ["call.created"])
    moved = await admin.patch(f"/v1/webhooks/{sub['id']}", {"url": mistyped})
    assert moved.status_code == 422, moved.text
    assert moved.json()["detail"] == "webhook URL refused: the URL's host does not resolve"
    assert (await admin.ok("GET", f"/v1/webhooks/{sub['id']}"))["url"] == receiver.url


async def test_webhook_connections_are_checked_as_they_are_made(receiver: Receiver) -> None:
    # The relay's client checks the address it connects to, not only the URL beforehand:
    # a name may resolve to a public address for a check and a private one for the send.
    port = receiver.url.split(":")[2].split("/")[0]
    async with _relays_client() as client:
        for url in (f"http://localhost:{port}/hooks", f"http://127.0.0.1:{port}/hooks"):
            with pytest.raises(TargetRefused, match="an address that is not public"):
                await client.post(url, b"{}", [])
    assert receiver.requests == []


async def test_a_checked_connection_reaches_the_address_resolved_and_keeps_the_name(
    receiver: Receiver,
) -> None:
    # Production refuses every loopback address; here only 127.0.0.2 is, so the checked
    # connection to localhost goes through to the receiver on 127.0.0.1 (after ::1, where
    # the machine lists it first and nothing listens).
    def only_127_0_0_2(address: IPAddress) -> bool:
        return str(address) == "127.0.0.2"

    port = receiver.url.split(":")[2].split("/")[0]
    async with _relays_client(refused=only_127_0_0_2) as client:
        answer = await client.post(f"http://localhost:{port}/hooks", b"{}", [])
        assert answer.status == 200
        with pytest.raises(TargetRefused, match="an address that is not public"):
            await client.post(f"http://127.0.0.2:{port}/hooks", b"{}", [])
    assert len(receiver.requests) == 1
    assert receiver.requests[0].headers["host"] == f"localhost:{port}"


async def test_no_payload_ever_carries_notes(
    admin: Api, receiver: Receiver, service: ServiceFactory
) -> None:
    await grid_districts(admin)
    co = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    await subscribe(admin, receiver.url, list(EVENT_TYPES))
    async with service():
        call = await admin.ok("POST", "/v1/calls", {"district": "D1", "notes": "NOTE-A"}, 201)
        await admin.ok("PATCH", f"/v1/calls/{call['id']}", {"notes": "NOTE-B"})
        await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
        await admin.ok("PUT", f"/v1/co-responders/{co}/status", {"status": "en_route"})
        await admin.ok(
            "POST", f"/v1/calls/{call['id']}/clear", {"disposition": "ok", "notes": "NOTE-C"}
        )
        expected = {"call.created", "call.updated", "unit.assigned", "call.cleared"}
        got = await receiver.wait_for(8)
        # Deliveries are independent, so they may land in any order: wait for each type.
        while not expected <= {json.loads(r.body)["type"] for r in got}:
            got = await receiver.wait_for(len(got) + 1)
    assert all(b"NOTE-" not in r.body for r in got)


async def test_subscription_for_an_unknown_responder_is_422(admin: Api, receiver: Receiver) -> None:
    response = await admin.post(
        "/v1/webhooks",
        {
            "url": receiver.url,
            "events": ["unit.assigned"],
            "responder_id": "00000000-0000-0000-0000-000000000001",
        },
    )
    assert response.status_code == 422


async def test_another_agencys_subscription_and_deliveries_are_404(
    admin: Api, other_admin: Api, receiver: Receiver
) -> None:
    sub = await subscribe(admin, receiver.url, ["call.created"])
    assert (await other_admin.get(f"/v1/webhooks/{sub['id']}/deliveries")).status_code == 404
    assert (await other_admin.delete(f"/v1/webhooks/{sub['id']}")).status_code == 404
    assert (await other_admin.ok("GET", "/v1/webhooks"))["items"] == []
    assert (await admin.delete(f"/v1/webhooks/{sub['id']}")).status_code == 204


async def test_unit_terminal_hears_when_its_call_escalates(
    admin: Api, receiver: Receiver, service: ServiceFactory, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    co = await add_co_responder(admin, district="D1", call_sign="MCT-1")
    bystander = await add_co_responder(admin, district="D2", call_sign="MCT-2")
    await add_officer(admin, district="D1", call_sign="1A1", cit=True)
    mine = await subscribe(admin, receiver.url, ["call.escalated"], responder_id=co)
    await subscribe(admin, receiver.url + "/other", ["call.escalated"], responder_id=bystander)
    async with service():
        call = await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        await admin.ok("POST", f"/v1/calls/{call['id']}/dispatch")
        await admin.ok("PATCH", f"/v1/calls/{call['id']}", {"safety": {"weapon": True}})
        (received,) = await receiver.wait_for(1)
    payload = _verify(mine["secret"], received)
    assert payload["type"] == "call.escalated"
    assert payload["data"]["safety"]["weapon"] is True
    assert payload["data"]["lead"] == "law_enforcement"
    # The bystander's terminal got no delivery at all, not merely none yet.
    queued = await db.fetch("SELECT subscription_id FROM webhook_delivery")
    assert [str(r["subscription_id"]) for r in queued] == [mine["id"]]


async def test_a_slow_receiver_delays_only_its_own_deliveries(
    admin: Api,
    other_admin: Api,
    receiver: Receiver,
    service: ServiceFactory,
    db: asyncpg.Connection,
) -> None:
    """Agency B's receiver hangs; agency A's units still hear of their calls at once."""
    slow = Receiver(hold=asyncio.Event())
    await slow.start()
    try:
        await grid_districts(other_admin)
        await subscribe(other_admin, slow.url, ["call.created"])
        backlog = PER_TARGET + 4
        for _ in range(backlog):
            await other_admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
        await grid_districts(admin)
        await subscribe(admin, receiver.url, ["call.created"])
        async with service():
            await slow.wait_for(PER_TARGET)
            for _ in range(5):
                await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
            # A's deliveries arrive, and are recorded, while B's receiver still holds its
            # first attempts: B's backlog takes only its own slots.
            await receiver.wait_for(5)
            for _ in range(100):
                delivered = await db.fetchval(
                    "SELECT count(*) FROM webhook_delivery"
                    " WHERE agency_id = $1 AND status = 'delivered'",
                    admin.agency_id,
                )
                if delivered == 5:
                    break
                await asyncio.sleep(0.05)
            assert delivered == 5
            assert len(slow.requests) == PER_TARGET
            assert slow.hold is not None
            slow.hold.set()
            await slow.wait_for(backlog)
    finally:
        if slow.hold is not None:
            slow.hold.set()
        await slow.stop()
