"""`cit-dispatch eido-subscribe` against an STA-024 notifier written in the tests
(tests/sta024.py): real WebSocket connections, real imports into PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from fastapi import FastAPI

from app.eido_subscribe import importer
from app.services.conveyance import KeptSubscription
from app.settings import Settings
from app.subscriber import LATE_MESSAGES, Backoff, Subscriber, SubscriptionStore, Unanswered
from tests.eido.documents import document, incident_id, later
from tests.helpers import Api, grid_districts
from tests.sta024 import Notifier


@pytest.fixture
async def notifier() -> AsyncIterator[Notifier]:
    running = Notifier()
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
async def brief_notifier() -> AsyncIterator[Notifier]:
    """A notifier whose subscriptions last 3 s: renewed at 2 s."""
    running = Notifier(expires=3)
    await running.start()
    yield running
    await running.stop()


@asynccontextmanager
async def subscribed(
    app: FastAPI,
    admin: Api,
    notifier: Notifier,
    *,
    expires: int = 3600,
    store: SubscriptionStore | None = None,
    open_timeout: float = 10.0,
) -> AsyncIterator[Subscriber]:
    """A subscriber for admin's agency, running until the block ends (its store the
    database's, unless one is given)."""
    state = app.state.cit
    subscriber = Subscriber(
        notifier.url,
        importer(state, admin.agency_id),
        store or KeptSubscription(state, admin.agency_id, notifier.url),
        expires=expires,
        backoff=Backoff(base=0.05, cap=0.5),
        open_timeout=open_timeout,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(subscriber.run(stop))
    try:
        yield subscriber
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)


async def _calls(db: asyncpg.Connection, incident: str) -> list[asyncpg.Record]:
    return list(await db.fetch("SELECT id, nature FROM call WHERE external_id = $1", incident))


async def test_listed_types_become_calls_and_every_event_is_acknowledged(
    app: FastAPI, admin: Api, notifier: Notifier, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    crisis, burglary = incident_id(), incident_id()
    async with subscribed(app, admin, notifier):
        await notifier.until_subscribed()
        first = await notifier.publish(document(crisis, nature="MNTL", beat="D1"))
        second = await notifier.publish(document(burglary, nature="BURG", beat="D1"))
        broken = await notifier.publish({"$id": "not an EIDO"})
        # Dated a month ahead: an incident not taken is passed over all the same; one taken
        # is refused, as POST /v1/eido refuses it.
        ahead = datetime.now(UTC) + timedelta(days=30)
        ahead_passed = await notifier.publish(
            document(incident_id(), at=ahead, nature="BURG", beat="D1")
        )
        ahead_taken_id = incident_id()
        ahead_taken = await notifier.publish(
            document(ahead_taken_id, at=ahead, nature="MNTL", beat="D1")
        )
        # An incident already over: nothing to dispatch, so passed over (not refused).
        over = document(incident_id(), nature="MNTL", beat="D1")
        over["incidentComponent"]["incidentStatusCommonRegistryText"] = ["Closed"]
        closed = await notifier.publish(over)
        for transaction in (first, second, broken, ahead_passed, ahead_taken, closed):
            await notifier.until_acknowledged(transaction)
        # News of the crisis, though its type now says burglary: its call takes it.
        update = await notifier.publish(document(crisis, at=later(5), nature="BURG", beat="D1"))
        await notifier.until_acknowledged(update)
    assert notifier.disk.answers == {
        first: [200],
        second: [200],
        broken: [400],
        ahead_passed: [200],
        ahead_taken: [400],
        closed: [200],
        update: [200],
    }
    assert [r["nature"] for r in await _calls(db, crisis)] == ["BURG"]
    assert await _calls(db, burglary) == []
    assert await db.fetchval("SELECT count(*) FROM call") == 1
    assert notifier.disk.violations == []
    # The two refused are in the audit trail, as POST /v1/eido's refusals are (they were in
    # the log only, from the integrator's check).
    refused = await db.fetch(
        "SELECT role, outcome, detail::text AS detail FROM audit_entry"
        " WHERE action = 'call.import' AND outcome = 'error' ORDER BY at"
    )
    details = [json.loads(r["detail"]) for r in refused]
    assert [
        (r["role"], d.pop("error")["status"]) for r, d in zip(refused, details, strict=True)
    ] == [
        ("integration", 422),
        ("integration", 422),
    ]
    assert details == [{"incident_id": "not an EIDO"}, {"incident_id": ahead_taken_id}]
    [request] = notifier.subscribe_requests()
    assert (request["requestType"], request["requestSubType"]) == ("EIDO", "new")


async def test_nothing_is_lost_across_a_dropped_connection_and_a_notifier_restart(
    app: FastAPI, admin: Api, notifier: Notifier, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    incidents = [incident_id() for _ in range(3)]
    async with subscribed(app, admin, notifier) as subscriber:
        subscription = await notifier.until_subscribed()
        await notifier.until_acknowledged(await notifier.publish(document(incidents[0], beat="D1")))
        notifier.drop()
        # Published while the subscriber is away: the notifier keeps it for the subscription.
        await notifier.until_acknowledged(await notifier.publish(document(incidents[1], beat="D2")))
        await notifier.restart()
        await notifier.until_acknowledged(await notifier.publish(document(incidents[2], beat="D3")))
        assert subscriber.subscriptions >= 3
    for incident in incidents:
        assert len(await _calls(db, incident)) == 1, incident
    # Every event was answered once, and imported once.
    assert list(notifier.disk.answers.values()) == [[200]] * 3
    # Each reconnection took the same subscription up again, so nothing was dropped.
    renewals = notifier.subscribe_requests()[1:]
    assert len(renewals) >= 2
    assert {r.get("subscriptionId") for r in renewals} == {subscription}
    assert notifier.disk.violations == []


async def test_a_restarted_subscriber_renews_its_subscription_and_imports_nothing_twice(
    app: FastAPI, admin: Api, notifier: Notifier, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    before, meanwhile = incident_id(), incident_id()
    async with subscribed(app, admin, notifier):
        subscription = await notifier.until_subscribed()
        acknowledged = await notifier.publish(document(before, beat="D1"))
        await notifier.until_acknowledged(acknowledged)
    # The subscriber is down. One incident comes in meanwhile, and the notifier lost the
    # acknowledgement of the last one (as if the subscriber died after its commit).
    waiting = await notifier.publish(document(meanwhile, beat="D2"))
    notifier.disk.subscriptions[subscription].discard(acknowledged)
    async with subscribed(app, admin, notifier):
        assert await notifier.until_subscribed() == subscription
        await notifier.until_acknowledged(waiting)
        await notifier.until_acknowledged(acknowledged)
    assert len(await _calls(db, before)) == 1
    assert len(await _calls(db, meanwhile)) == 1
    assert notifier.disk.answers[acknowledged] == [200, 200]
    kept = await db.fetchval("SELECT subscription_id FROM eido_subscription")
    assert kept == subscription


async def test_the_subscription_is_renewed_before_it_expires(
    app: FastAPI, admin: Api, brief_notifier: Notifier, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    notifier = brief_notifier
    async with subscribed(app, admin, notifier) as subscriber:
        subscription = await notifier.until_subscribed()
        # Renewed at two thirds of 3 s, at 2 s and 4 s, however busy the subscription:
        # an incident comes every half second meanwhile.
        incidents = []
        for _ in range(9):
            incidents.append(incident_id())
            await notifier.publish(document(incidents[-1], beat="D1"))
            await asyncio.sleep(0.5)
        incident = incidents[-1]
        await notifier.until_acknowledged(notifier.disk.events[-1].transaction_id)
    renewals = [r for r in notifier.subscribe_requests() if "subscriptionId" in r]
    assert len(renewals) >= 2
    assert {r["subscriptionId"] for r in renewals} == {subscription}
    assert subscriber.renewals >= 2
    assert len(await _calls(db, incident)) == 1


async def test_a_terminated_subscription_is_answered_and_made_again(
    app: FastAPI, admin: Api, notifier: Notifier, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    async with subscribed(app, admin, notifier):
        ended = await notifier.until_subscribed()
        await notifier.terminate()
        incident = incident_id()
        published = await notifier.publish(document(incident, beat="D1"))
        # Published before the new subscription: a new one hears of incidents from then on.
        again = await notifier.until_subscribed()
        later_incident = incident_id()
        await notifier.until_acknowledged(
            await notifier.publish(document(later_incident, beat="D1"))
        )
    answered = [m["terminateResponse"] for m in notifier.disk.received if "terminateResponse" in m]
    assert [(a["subscriptionId"], a["statusCode"]) for a in answered] == [(ended, 200)]
    assert again != ended
    assert len(await _calls(db, later_incident)) == 1
    assert published not in notifier.disk.answers
    assert notifier.disk.violations == []


async def test_messages_the_protocol_has_no_place_for_are_passed_over(
    app: FastAPI, admin: Api, notifier: Notifier, db: asyncpg.Connection
) -> None:
    """A notifier's mistakes, before the answer to the subscription and after it: each one
    ended the subscriber (the command exited)."""
    await grid_districts(admin)
    deep = "[" * 100_000 + "]" * 100_000  # deeper than the parser goes
    notifier.greeting = ["not JSON", "[1, 2]", deep]
    async with subscribed(app, admin, notifier) as subscriber:
        subscription = await notifier.until_subscribed()
        ok = {"requestId": "x", "statusCode": 200, "statusText": "OK"}
        for raw in (
            "}{",
            deep,
            '{"terminate": "now"}',
            '{"subscribeResponse": "yes"}',
            '{"event": 7}',
            # Answers to nothing asked: they dropped the subscription.
            json.dumps({"subscribeResponse": {"requestId": "not-ours", "statusText": "?"}}),
            json.dumps({"subscribeResponse": {**ok, "statusCode": 481}}),
            json.dumps({"subscribeResponse": {**ok, "requestId": ["x"], "statusCode": 481}}),
            # The end of a subscription it does not hold: answered 481, its own kept.
            json.dumps({"terminate": {"requestId": "t", "subscriptionId": "someone-elses"}}),
        ):
            await notifier.say(raw)
        incident = incident_id()
        await notifier.until_acknowledged(await notifier.publish(document(incident, beat="D1")))
        # The same connection and subscription throughout: nothing was taken for a drop or
        # an end of the subscription.
        assert (subscriber.subscriptions, await notifier.until_subscribed()) == (1, subscription)
    assert len(await _calls(db, incident)) == 1
    ended = [m["terminateResponse"] for m in notifier.disk.received if "terminateResponse" in m]
    assert [(e["subscriptionId"], e["statusCode"]) for e in ended] == [("someone-elses", 481)]
    assert await db.fetchval("SELECT subscription_id FROM eido_subscription") == subscription
    assert notifier.disk.violations == []


async def test_an_event_of_a_subscription_not_held_is_refused_and_imports_nothing(
    app: FastAPI, admin: Api, notifier: Notifier, db: asyncpg.Connection
) -> None:
    """It was imported and answered 200, whatever subscription it named."""
    await grid_districts(admin)
    stray, incident = incident_id(), incident_id()
    async with subscribed(app, admin, notifier):
        await notifier.until_subscribed()
        event = {
            "subscriptionId": "someone-elses",
            "transactionId": "stray",
            "notification": [document(stray, beat="D1")],
        }
        await notifier.say(json.dumps({"event": event}))
        # Answered in order: once this one is, the stray one was.
        await notifier.until_acknowledged(await notifier.publish(document(incident, beat="D1")))
    assert notifier.disk.answers["stray"] == [481]
    assert await _calls(db, stray) == []
    assert len(await _calls(db, incident)) == 1
    assert notifier.disk.violations == []


async def test_an_event_too_large_to_handle_is_refused_and_the_connection_kept(
    app: FastAPI, admin: Api, notifier: Notifier, db: asyncpg.Connection
) -> None:
    """An event over 4 MiB closed the connection (1009) unanswered, and the notifier sent
    it again on every reconnection: nothing published after it ever arrived."""
    await grid_districts(admin)
    big, late, incident = incident_id(), incident_id(), incident_id()
    padding = "x" * 4 * 2**20
    async with subscribed(app, admin, notifier) as subscriber:
        subscription = await notifier.until_subscribed()
        too_large = await notifier.publish({**document(big, beat="D1"), "padding": padding})
        # Its transactionId after its notification: not read, so not answered; the
        # connection is kept all the same.
        event = {
            "subscriptionId": subscription,
            "notification": [{**document(late, beat="D1"), "padding": padding}],
            "transactionId": "late",
        }
        await notifier.say(json.dumps({"event": event}))
        # Answered in order: once this one is, the ones before it were.
        await notifier.until_acknowledged(
            await notifier.publish(document(incident, beat="D1")), within=10
        )
        assert (subscriber.subscriptions, await notifier.until_subscribed()) == (1, subscription)
    assert notifier.disk.answers[too_large] == [413]
    assert "late" not in notifier.disk.answers
    assert await _calls(db, big) == []
    assert await _calls(db, late) == []
    assert len(await _calls(db, incident)) == 1
    assert notifier.disk.violations == []


@pytest.mark.parametrize("given", ["soon", 10**400, -5, True, 3600.5])
async def test_an_expires_the_schema_does_not_allow_is_taken_as_the_one_asked(
    app: FastAPI, admin: Api, notifier: Notifier, db: asyncpg.Connection, given: object
) -> None:
    """Each ended the subscriber (the command exited); 10**400 overflowed the timer."""
    await grid_districts(admin)
    notifier.grant_expires = given
    async with subscribed(app, admin, notifier) as subscriber:
        subscription = await notifier.until_subscribed()
        incident = incident_id()
        await notifier.until_acknowledged(await notifier.publish(document(incident, beat="D1")))
        assert (subscriber.subscriptions, await notifier.until_subscribed()) == (1, subscription)
        # Renewed at two thirds of the 3,600 s asked for: not before the test ends.
        assert subscriber.renewals == 0
    assert len(await _calls(db, incident)) == 1


async def test_a_renewal_answer_without_an_integer_status_is_passed_over(
    app: FastAPI, admin: Api, notifier: Notifier, db: asyncpg.Connection
) -> None:
    """After a restart, a renewal answered "503" (a string) dropped the kept subscription."""
    await grid_districts(admin)
    async with subscribed(app, admin, notifier):
        subscription = await notifier.until_subscribed()
    await notifier.until_alone()
    notifier.renewal_refusals = ["503"]
    async with subscribed(app, admin, notifier, open_timeout=1.0):
        # Unanswered, the renewal is asked again on a new connection, and granted.
        await notifier.until_granted(2)
        assert await notifier.until_subscribed() == subscription
    renewals = notifier.subscribe_requests()[1:]
    assert [r.get("subscriptionId") for r in renewals] == [subscription] * 2
    assert await db.fetchval("SELECT subscription_id FROM eido_subscription") == subscription


async def test_a_renewal_the_notifier_fails_for_now_keeps_the_subscription(
    app: FastAPI, admin: Api, notifier: Notifier, db: asyncpg.Connection
) -> None:
    """A 500 or 503 to a renewal, after the subscriber's restart, made a new subscription:
    what the notifier held for the old one was never fetched."""
    await grid_districts(admin)
    async with subscribed(app, admin, notifier):
        subscription = await notifier.until_subscribed()
    await notifier.until_alone()
    incident = incident_id()
    waiting = await notifier.publish(document(incident, beat="D2"))
    notifier.renewal_refusals = [503, 500]
    async with subscribed(app, admin, notifier):
        assert await notifier.until_subscribed() == subscription
        await notifier.until_acknowledged(waiting)
    renewals = notifier.subscribe_requests()[1:]
    assert [r.get("subscriptionId") for r in renewals] == [subscription] * 3
    assert len(await _calls(db, incident)) == 1
    assert notifier.disk.violations == []


async def test_a_live_renewal_the_notifier_fails_for_now_is_asked_again(
    app: FastAPI, admin: Api, brief_notifier: Notifier, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    notifier = brief_notifier
    async with subscribed(app, admin, notifier) as subscriber:
        subscription = await notifier.until_subscribed()
        notifier.renewal_refusals = [503]
        # Renewed at 2 s: refused, then asked again on a new connection, and granted.
        await notifier.until_granted(2)
        incident = incident_id()
        await notifier.until_acknowledged(await notifier.publish(document(incident, beat="D1")))
        assert subscriber.subscriptions == 2
    renewals = notifier.subscribe_requests()[1:]
    assert len(renewals) >= 2
    assert {r.get("subscriptionId") for r in renewals} == {subscription}
    assert len(await _calls(db, incident)) == 1


async def test_a_renewal_the_notifier_keeps_failing_gives_way_once_the_subscription_expires(
    app: FastAPI, admin: Api, brief_notifier: Notifier, db: asyncpg.Connection
) -> None:
    """Renewed again and again without end: nothing was imported while the notifier failed
    that one subscription."""
    await grid_districts(admin)
    notifier = brief_notifier
    async with subscribed(app, admin, notifier, expires=2):
        first = await notifier.until_subscribed()
        notifier.renewal_refusals = [503] * 10_000
        # Refused from 1.3 s, asked again until it expires at 2 s, then made afresh.
        await notifier.until_granted(2)
        notifier.renewal_refusals = []
        incident = incident_id()
        await notifier.until_acknowledged(await notifier.publish(document(incident, beat="D1")))
    requests = notifier.subscribe_requests()
    assert len([r for r in requests if "subscriptionId" not in r]) == 2
    assert len([r for r in requests if r.get("subscriptionId") == first]) >= 2
    assert await db.fetchval("SELECT subscription_id FROM eido_subscription") != first
    assert len(await _calls(db, incident)) == 1


async def test_a_live_renewal_left_unanswered_is_asked_again_on_a_new_connection(
    app: FastAPI, admin: Api, brief_notifier: Notifier, db: asyncpg.Connection
) -> None:
    """A notifier that kept the connection but did not answer a renewal went unnoticed:
    the subscriber asked again on the same connection two thirds of expires later, its
    subscription run out meanwhile."""
    await grid_districts(admin)
    notifier = brief_notifier
    notifier.silent_renewals = 1
    async with subscribed(app, admin, notifier, open_timeout=0.5) as subscriber:
        subscription = await notifier.until_subscribed()
        # Renewed at 2 s, unanswered: given up at 2.5 s and asked on a new connection.
        await notifier.until_granted(2)
        incident = incident_id()
        await notifier.until_acknowledged(await notifier.publish(document(incident, beat="D1")))
        assert subscriber.subscriptions == 2
    renewals = notifier.subscribe_requests()[1:]
    assert [r.get("subscriptionId") for r in renewals[:2]] == [subscription] * 2
    assert await db.fetchval("SELECT subscription_id FROM eido_subscription") == subscription
    assert len(await _calls(db, incident)) == 1
    assert notifier.disk.violations == []


async def test_a_renewal_left_unanswered_gives_way_once_the_subscription_expires(
    app: FastAPI, admin: Api, brief_notifier: Notifier, db: asyncpg.Connection
) -> None:
    """A notifier that stopped answering renewals had the subscriber renew every two
    thirds of expires, for ever, its subscription long gone; nothing was imported."""
    await grid_districts(admin)
    notifier = brief_notifier
    async with subscribed(app, admin, notifier, open_timeout=0.5):
        first = await notifier.until_subscribed()
        notifier.silent_renewals = 10_000
        # Unanswered from 2 s, asked again on new connections until it expires at 3 s,
        # then made afresh (a new subscription is answered).
        await notifier.until_granted(2, within=10)
        notifier.silent_renewals = 0
        incident = await _imported_once_answered(notifier)
    await _subscribed_afresh(notifier, db, first, incident)


async def test_a_renewal_left_unanswered_after_a_restart_gives_way_in_time(
    app: FastAPI, admin: Api, notifier: Notifier, db: asyncpg.Connection
) -> None:
    """After a restart, a renewal of the kept subscription that the notifier never
    answered was asked again on every reconnection, for ever: no new subscription."""
    await grid_districts(admin)
    async with subscribed(app, admin, notifier):
        first = await notifier.until_subscribed()
    await notifier.until_alone()
    notifier.silent_renewals = 10_000
    async with subscribed(app, admin, notifier, expires=1, open_timeout=0.3):
        # Unanswered, as a renewal failed for now: asked again after back-off for one
        # expires (1 s) from the first failure, then made afresh.
        await notifier.until_granted(2, within=10)
        notifier.silent_renewals = 0
        incident = await _imported_once_answered(notifier)
    await _subscribed_afresh(notifier, db, first, incident)


async def test_events_that_keep_coming_do_not_hold_an_unanswered_renewal_open(
    app: FastAPI, admin: Api, notifier: Notifier
) -> None:
    """A renewal is answered within open_timeout of its sending: timed from each message
    instead, a notifier that kept sending events and never answered held the subscriber
    on the kept subscription for as long as the events came."""
    await grid_districts(admin)
    async with subscribed(app, admin, notifier):
        first = await notifier.until_subscribed()
    await notifier.until_alone()
    notifier.silent_renewals = 10_000
    event = {
        "subscriptionId": first,
        "transactionId": str(uuid.uuid4()),
        "notification": [document(incident_id(), beat="D1")],
    }

    async def chatter() -> None:
        while True:
            with contextlib.suppress(Exception):
                await notifier.say(json.dumps({"event": event}))
            await asyncio.sleep(0.1)

    talking = asyncio.create_task(chatter())
    try:
        async with subscribed(app, admin, notifier, expires=1, open_timeout=0.5):
            # Unanswered at 0.5 s, asked again until the kept one's 1 s is out, then made
            # afresh (a new subscription is answered).
            await notifier.until_granted(2, within=10)
    finally:
        talking.cancel()
    assert notifier.disk.violations == []


class _NoStore:
    async def load(self) -> str | None:
        return None

    async def save(self, subscription_id: str | None) -> None:
        pass


async def _never_called(document: dict[str, Any]) -> int:
    raise AssertionError("not reached: _event is replaced")


class _Buffered:
    """A connection whose messages are all in already, as a notifier's that sent events and
    then the answer while the subscriber was busy importing."""

    def __init__(self, messages: list[dict[str, Any]]) -> None:
        self.messages = [json.dumps(m) for m in messages]

    async def send(self, raw: str) -> None:
        pass

    async def recv(self) -> str:
        return self.messages.pop(0)


async def test_an_answer_in_before_the_deadline_is_read_however_long_imports_took(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Imports that use up the subscribe's time do not lose the answer already there: two,
    then three imports of 0.4 s each used up the 0.5 s, and the answer was given up on
    unread (reviews)."""

    subscriber = Subscriber("ws://127.0.0.1:9/", _never_called, _NoStore(), open_timeout=0.5)

    async def slow_import(ws: Any, event: Any, subscription: str | None) -> None:
        await asyncio.sleep(0.4)

    monkeypatch.setattr(subscriber, "_event", slow_import)
    request = subscriber._subscribe_body(None, renew=False)
    event = {"subscriptionId": "s-1", "transactionId": "t", "notification": []}
    answer = {
        "requestId": request["subscribe"]["requestId"],
        "statusCode": 200,
        "subscriptionId": "s-2",
        "expires": 60,
    }
    for events in (2, 3):
        ws = _Buffered([*[{"event": event}] * events, {"subscribeResponse": answer}])
        got = await subscriber._ask(ws, request)  # type: ignore[arg-type]
        assert got["subscriptionId"] == "s-2"


async def test_events_as_fast_as_they_are_imported_do_not_hold_a_subscribe_for_ever(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Events always there as an import ended held the unanswered subscribe for as long as
    they came (review): past open_timeout, at most LATE_MESSAGES more are read."""
    subscriber = Subscriber("ws://127.0.0.1:9/", _never_called, _NoStore(), open_timeout=0.2)

    async def slow_import(ws: Any, event: Any, subscription: str | None) -> None:
        await asyncio.sleep(0.1)

    monkeypatch.setattr(subscriber, "_event", slow_import)
    event = {"subscriptionId": "s-1", "transactionId": "t", "notification": []}
    ws = _Buffered([{"event": event}] * 100)
    with pytest.raises(Unanswered):
        await subscriber._ask(ws, subscriber._subscribe_body(None, renew=False))  # type: ignore[arg-type]
    assert len(ws.messages) >= 100 - LATE_MESSAGES - 3  # given up, not when they ran out


async def _imported_once_answered(notifier: Notifier) -> str:
    """A new incident published once the notifier answers again, acknowledged: its id."""
    incident = incident_id()
    await notifier.until_acknowledged(await notifier.publish(document(incident, beat="D1")))
    return incident


async def _subscribed_afresh(
    notifier: Notifier, db: asyncpg.Connection, first: str, incident: str
) -> None:
    """The kept subscription (first) was asked again, then a new one made and kept, and the
    incident published on it imported once."""
    requests = notifier.subscribe_requests()
    assert len([r for r in requests if "subscriptionId" not in r]) == 2
    assert len([r for r in requests if r.get("subscriptionId") == first]) >= 2
    assert await db.fetchval("SELECT subscription_id FROM eido_subscription") != first
    assert len(await _calls(db, incident)) == 1
    assert notifier.disk.violations == []


class _DownAtFirst:
    """The database's store, unavailable for its first reads (the database restarting)."""

    def __init__(self, store: SubscriptionStore, failures: int) -> None:
        self.store, self.failures = store, failures

    async def load(self) -> str | None:
        if self.failures:
            self.failures -= 1
            raise asyncpg.CannotConnectNowError("the database system is starting up")
        return await self.store.load()

    async def save(self, subscription_id: str | None) -> None:
        await self.store.save(subscription_id)


async def test_a_database_down_when_subscribing_is_waited_out(
    app: FastAPI, admin: Api, notifier: Notifier, db: asyncpg.Connection
) -> None:
    """The subscriber exited when its kept subscription could not be read."""
    await grid_districts(admin)
    store = _DownAtFirst(KeptSubscription(app.state.cit, admin.agency_id, notifier.url), 2)
    async with subscribed(app, admin, notifier, store=store):
        await notifier.until_subscribed()
        incident = incident_id()
        await notifier.until_acknowledged(await notifier.publish(document(incident, beat="D1")))
    assert store.failures == 0
    assert len(await _calls(db, incident)) == 1


def _command(database_url: str, settings: Settings, *args: str) -> subprocess.Popen[str]:
    assert settings.data_key is not None
    env = {
        **os.environ,
        "CIT_DATABASE_URL": database_url,
        "CIT_DATA_KEY": settings.data_key.get_secret_value(),
    }
    return subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "app.cli", "eido-subscribe", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


async def test_the_command_imports_until_sigterm_and_then_exits_cleanly(
    admin: Api, notifier: Notifier, db: asyncpg.Connection, database_url: str, settings: Settings
) -> None:
    await grid_districts(admin)
    process = _command(
        database_url, settings, "--agency", str(admin.agency_id), "--url", notifier.url
    )
    try:
        try:
            await notifier.until_subscribed(within=60)
            incident = incident_id()
            await notifier.until_acknowledged(await notifier.publish(document(incident, beat="D4")))
        except TimeoutError:
            process.kill()
            raise AssertionError(process.communicate()[1][-3000:]) from None
        assert len(await _calls(db, incident)) == 1
        process.send_signal(signal.SIGTERM)
        _, err = await asyncio.to_thread(process.communicate, None, 20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "Traceback" not in err
    entry = await db.fetchrow(
        "SELECT role, key_id FROM audit_entry WHERE action = 'call.create' ORDER BY at DESC LIMIT 1"
    )
    assert entry is not None
    assert (entry["role"], entry["key_id"]) == ("integration", None)


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--url", "http://psap.example.org/eido"], "--url"),
        (["--url", "ws://127.0.0.1:9/", "--expires", "5"], "--expires"),
    ],
)
async def test_the_command_refuses_a_bad_option_in_one_line(
    admin: Api, database_url: str, settings: Settings, args: list[str], complaint: str
) -> None:
    process = _command(database_url, settings, "--agency", str(admin.agency_id), *args)
    _, err = await asyncio.to_thread(process.communicate, None, 60)
    assert process.returncode == 2
    assert err.strip().splitlines() == [err.strip()]
    assert complaint in err


async def test_the_command_refuses_an_unknown_agency_in_one_line(
    database_url: str, settings: Settings, notifier: Notifier
) -> None:
    unknown = "01900000-0000-7000-8000-000000000000"
    process = _command(database_url, settings, "--agency", unknown, "--url", notifier.url)
    _, err = await asyncio.to_thread(process.communicate, None, 60)
    assert process.returncode == 2
    # After the migrations' log lines, one line says what is wrong; no traceback.
    assert err.strip().splitlines()[-1] == f"cit-dispatch: no agency {unknown}"
    assert "Traceback" not in err
