"""An STA-024 EIDO notifier for the tests, following sta024-websocket.yaml.

It keeps its state on a "disk" (NotifierDisk) that outlives the server, so a test can
restart the notifier as a PSAP would restart its system: subscriptions and the events a
subscription has not acknowledged survive, and are sent again when the subscription is
renewed. Every message a subscriber sends is checked against the schema's
`subscriberMessage`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

SCHEMA = Path(__file__).parent / "data" / "sta024-websocket.yaml"
_DOCUMENT = "urn:sta024"


def _subscriber_validators() -> dict[str, Draft202012Validator]:
    """A validator per subscriber message kind. The schema's subscriberMessage is a oneOf
    of objects none of which requires its key, so every message matches them all and the
    oneOf never holds: each kind is checked on its own, its key required and alone."""
    document = yaml.safe_load(SCHEMA.read_text())
    registry: Registry[Any] = Registry().with_resource(
        _DOCUMENT, DRAFT202012.create_resource(document)
    )
    return {
        kind: Draft202012Validator(
            {
                "allOf": [{"$ref": f"{_DOCUMENT}#/components/schemas/{kind}Object"}],
                "required": [kind],
                "maxProperties": 1,
            },
            registry=registry,
        )
        for kind in ("subscribe", "unsubscribe", "eventResponse", "terminateResponse")
    }


SUBSCRIBER_MESSAGES = _subscriber_validators()


def violations(message: Any) -> list[str]:
    """What makes message something other than one subscriberMessage of the schema."""
    kinds = [k for k in message if k in SUBSCRIBER_MESSAGES] if isinstance(message, dict) else []
    if len(kinds) != 1:
        return ["not exactly one of subscribe, unsubscribe, eventResponse, terminateResponse"]
    return [e.message for e in SUBSCRIBER_MESSAGES[kinds[0]].iter_errors(message)]


@dataclass
class Event:
    transaction_id: str
    documents: list[dict[str, Any]]


@dataclass
class NotifierDisk:
    """What the notifier keeps across its restarts."""

    # subscription id -> transaction ids it has acknowledged (200 or 400)
    subscriptions: dict[str, set[str]] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    # Every message received from subscribers, in order, and every eventResponse status.
    received: list[dict[str, Any]] = field(default_factory=list)
    answers: dict[str, list[int]] = field(default_factory=dict)
    # How many subscribe requests were granted, renewals included.
    granted: int = 0
    # Subscriber messages that break sta024-websocket.yaml, with what is wrong.
    violations: list[tuple[Any, list[str]]] = field(default_factory=list)


class Notifier:
    def __init__(self, disk: NotifierDisk | None = None, *, expires: int = 3600) -> None:
        self.disk = disk or NotifierDisk()
        self.expires = expires
        self._server: Server | None = None
        self._port = 0
        # Open connections, with the subscription each serves.
        self._connections: dict[ServerConnection, str | None] = {}
        # Set whenever an eventResponse arrives, and whenever a subscription is taken up.
        self._answered = asyncio.Event()
        self._subscribed = asyncio.Event()
        self._left = asyncio.Event()  # set whenever a connection ends
        # Frames sent to each new connection before anything else (a test's malformed
        # messages), and the status codes the next renewals are refused with, in order.
        self.greeting: list[str] = []
        self.renewal_refusals: list[Any] = []
        # How many of the next renewals are left unanswered, the connection kept open (a
        # notifier that no longer answers them).
        self.silent_renewals = 0
        # The `expires` the next grants give instead of the one the schema allows.
        self.grant_expires: Any = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._port}/IncidentData/ent"

    async def start(self) -> None:
        self._server = await serve(self._serve, "127.0.0.1", self._port)
        self._port = next(iter(self._server.sockets)).getsockname()[1]

    async def stop(self) -> None:
        """Go down as a crashed or restarted system does: connections just drop."""
        assert self._server is not None
        for connection in list(self._connections):
            connection.transport.abort()
        self._server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), timeout=5)
        self._connections.clear()

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    def drop(self) -> None:
        """Cut every open connection, as a network fault would."""
        for connection in list(self._connections):
            connection.transport.abort()

    async def publish(self, *documents: dict[str, Any]) -> str:
        """A new incident notification: kept, and sent to every connected subscription."""
        event = Event(str(uuid.uuid4()), list(documents))
        self.disk.events.append(event)
        for connection, subscription in list(self._connections.items()):
            if subscription is not None:
                with contextlib.suppress(Exception):
                    await self._notify(connection, subscription, event)
        return event.transaction_id

    async def say(self, raw: str) -> None:
        """Send raw, as it is, on every open connection."""
        for connection in list(self._connections):
            await connection.send(raw)

    async def terminate(self) -> None:
        """End every subscription from the notifier's side."""
        for connection, subscription in list(self._connections.items()):
            if subscription is not None:
                self.disk.subscriptions.pop(subscription, None)
                self._connections[connection] = None
                ending = {"requestId": str(uuid.uuid4()), "subscriptionId": subscription}
                await connection.send(json.dumps({"terminate": ending}))

    def acknowledged(self, transaction_id: str) -> bool:
        return any(transaction_id in acked for acked in self.disk.subscriptions.values())

    async def until_acknowledged(self, transaction_id: str, within: float = 20.0) -> None:
        async def wait() -> None:
            while not self.acknowledged(transaction_id):
                self._answered.clear()
                await self._answered.wait()

        await asyncio.wait_for(wait(), timeout=within)

    async def until_subscribed(self, within: float = 20.0) -> str:
        """Wait for a connection that holds a subscription; its id."""

        async def wait() -> str:
            while True:
                held = [s for s in self._connections.values() if s is not None]
                if held:
                    return held[0]
                self._subscribed.clear()
                await self._subscribed.wait()

        return await asyncio.wait_for(wait(), timeout=within)

    async def until_alone(self, within: float = 20.0) -> None:
        """Wait until no subscriber is connected."""

        async def wait() -> None:
            while self._connections:
                self._left.clear()
                await self._left.wait()

        await asyncio.wait_for(wait(), timeout=within)

    async def until_granted(self, count: int, within: float = 20.0) -> None:
        """Wait until count subscribe requests, renewals included, have been granted."""

        async def wait() -> None:
            while self.disk.granted < count:
                self._subscribed.clear()
                await self._subscribed.wait()

        await asyncio.wait_for(wait(), timeout=within)

    def subscribe_requests(self) -> list[dict[str, Any]]:
        """Every subscribe request received, oldest first."""
        return [m["subscribe"] for m in self.disk.received if "subscribe" in m]

    async def _notify(self, connection: ServerConnection, subscription: str, event: Event) -> None:
        message = {
            "event": {
                "subscriptionId": subscription,
                "transactionId": event.transaction_id,
                "notification": event.documents,
            }
        }
        await connection.send(json.dumps(message))

    async def _serve(self, connection: ServerConnection) -> None:
        self._connections[connection] = None
        try:
            for frame in self.greeting:
                await connection.send(frame)
            async for raw in connection:
                message = json.loads(raw)
                errors = violations(message)
                if errors:  # the test asserts there are none
                    self.disk.violations.append((message, errors))
                self.disk.received.append(message)
                await self._answer(connection, message)
        except ConnectionClosed:  # a dropped connection ends this handler
            return
        finally:
            self._connections.pop(connection, None)
            self._left.set()

    async def _answer(self, connection: ServerConnection, message: dict[str, Any]) -> None:
        if "subscribe" in message:
            await self._subscribe(connection, message["subscribe"])
        elif "eventResponse" in message:
            answer = message["eventResponse"]
            subscription = self._connections.get(connection)
            self.disk.answers.setdefault(answer["transactionId"], []).append(answer["statusCode"])
            if subscription is not None and answer["statusCode"] in (200, 400):
                self.disk.subscriptions[subscription].add(answer["transactionId"])
            self._answered.set()

    async def _subscribe(self, connection: ServerConnection, request: dict[str, Any]) -> None:
        subscription = request.get("subscriptionId")
        answer: dict[str, Any] = {"requestId": request["requestId"]}
        if subscription is not None and subscription not in self.disk.subscriptions:
            answer.update(statusCode=481, statusText="Subscription does not exist")
            await connection.send(json.dumps({"subscribeResponse": answer}))
            return
        if subscription is not None and self.silent_renewals:
            self.silent_renewals -= 1
            return
        if subscription is not None and self.renewal_refusals:
            answer.update(statusCode=self.renewal_refusals.pop(0), statusText="Try later")
            await connection.send(json.dumps({"subscribeResponse": answer}))
            return
        if subscription is None:
            if (request.get("requestType"), request.get("requestSubType")) != ("EIDO", "new"):
                self.disk.violations.append((request, ["not a subscription to new EIDOs"]))
            subscription = str(uuid.uuid4())
            # A new subscription hears of incidents from now on.
            self.disk.subscriptions[subscription] = {e.transaction_id for e in self.disk.events}
        expires = min(self.expires, int(request.get("expires") or self.expires))
        answer.update(
            subscriptionId=subscription,
            expires=expires if self.grant_expires is None else self.grant_expires,
            statusCode=200,
            statusText="OK",
        )
        self._connections[connection] = subscription
        await connection.send(json.dumps({"subscribeResponse": answer}))
        self.disk.granted += 1
        self._subscribed.set()
        # A renewal, or a subscription taken up again: what it has not acknowledged.
        acked = self.disk.subscriptions[subscription]
        for event in list(self.disk.events):
            if event.transaction_id not in acked:
                await self._notify(connection, subscription, event)
