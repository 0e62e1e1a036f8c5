"""The NENA-STA-024 subscriber: EIDOs from a PSAP's or CAD's notifier, over a WebSocket.

`cit-dispatch eido-subscribe` runs one `Subscriber`. It connects, subscribes for new
incidents (`requestType: EIDO`, `requestSubType: new`), and answers every `event` with an
`eventResponse` once each EIDO in it is handled: imported and committed, or passed over.
What a document becomes is the handler's business (app/eido_subscribe.py wires the
command: the importer, and the subscription id kept by app/services/conveyance.py); this
module speaks the protocol:

- **Nothing is lost.** An event is acknowledged only after its EIDOs are committed, so one
  that arrives just before a crash is sent again; importing is idempotent by the incident's
  `$id` and timestamp, so nothing is imported twice. The subscription id is kept (the store)
  and renewed after a restart of either side, so the notifier keeps what it could not
  deliver meanwhile. Stopping never unsubscribes, for the same reason.
- **Renewal** before `expires` runs out (at two thirds of it), on the same connection.
  A renewal is to be answered within `open_timeout`, as the subscribe on connecting is:
  one the notifier leaves unanswered that long, though it keeps the connection open, is
  met as a drop is.
- **Reconnection** after a drop or a refused connection, with exponential back-off and
  jitter, so a notifier that restarts is not met by every subscriber at the same instant.
- A `terminate` from the notifier is answered, and a new subscription made.
- **An event too large to handle** (over `EVENT_MAX`, 4 MiB) is answered 413 (Payload Too
  Large) and nothing of it is imported, so the notifier does not send it again on every
  reconnection. It is not parsed (a parse costs many times a message's size): its
  transactionId is read from the message's first 64 KiB, among the event's members before
  its `notification` (the order sta024-websocket.yaml lists them in, subscriptionId,
  transactionId, notification). One whose transactionId is not there (after its
  notification, say) is logged and ignored, as an event without one is. A message over
  `TRANSPORT_MAX` (16 MiB) is refused by the WebSocket itself: it closes the connection
  (1009), which is met as a drop, and the notifier is not answered.
- **A notifier's mistakes are passed over**: a message that is not JSON, or not of the
  shape sta024-websocket.yaml gives it (a subscribeResponse to nothing asked included),
  is logged and ignored. A renewal the notifier fails for now (500, 503), or leaves
  unanswered, keeps the subscription, to renew again after back-off (on a new connection)
  until its last granted expiry has passed: then a new one is made; any other refusal
  (481: it forgot us) makes a new one at once. Any other failure, the database's
  included, is met as a drop is: back-off, reconnect, renew.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.uri import parse_uri

from app.db.failures import is_unavailable
from app.sta024_messages import (
    EVENT_MAX,
    TRANSPORT_MAX,
    answer_to,
    member,
    message_of,
    oversize_transaction,
    too_large,
)

log = logging.getLogger(__name__)

# eventResponse status codes (sta024-websocket.yaml): handled, a document we cannot use
# (the notifier should not send it again), and a failure of ours (send it again later).
HANDLED, UNUSABLE, TRY_AGAIN = 200, 400, 503
# An event of a subscription this subscriber does not hold (eventResponse, and the
# subscribeResponse of a subscription the notifier does not know).
NO_SUCH_SUBSCRIPTION = 481
# An event larger than EVENT_MAX: refused, so not sent again.
TOO_LARGE = 413
_STATUS_TEXT = {
    HANDLED: "OK",
    UNUSABLE: "Bad Request",
    TOO_LARGE: "Payload Too Large",
    NO_SUCH_SUBSCRIPTION: "Subscription does not exist",
    TRY_AGAIN: "Service Unavailable",
}
# subscribeResponse: the notifier failed, or is overloaded, for now: what it keeps for a
# subscription is not lost, so the subscription is renewed again later, not forgotten.
FAILING_FOR_NOW = frozenset({500, 503})
# The longest a subscription is taken to last, whatever the notifier says: renewing early
# is harmless, and a wait of years would not fit the event loop's timer.
EXPIRES_MAX = 86_400
# Past a subscribe's open_timeout, messages already here are still read for its answer (the
# time may have gone on importing events): each within this long, and this many at most.
LATE_WAIT = 0.05
LATE_MESSAGES = 20

# What the subscriber does with one EIDO: it answers HANDLED, UNUSABLE or TRY_AGAIN.
Handler = Callable[[dict[str, Any]], Awaitable[int]]


class SubscriptionStore(Protocol):
    """Where the subscription id is kept across restarts."""

    async def load(self) -> str | None: ...

    async def save(self, subscription_id: str | None) -> None: ...


class Refused(Exception):
    """The notifier refused the subscription for a reason retrying may mend."""


class Unanswered(TimeoutError):
    """The notifier did not answer a subscribe within `open_timeout`."""


# What ends a connection as a matter of course: the notifier, the network, or a refusal.
_DROPS = (OSError, TimeoutError, ConnectionClosed, InvalidHandshake, Refused)


@dataclass
class Backoff:
    """Exponential back-off with jitter: base * 2**n seconds, at most cap, each wait drawn
    between half of that and all of it."""

    base: float = 0.5
    cap: float = 30.0
    rng: random.Random = field(default_factory=random.Random)
    failures: int = 0

    def next(self) -> float:
        ceiling = min(self.cap, self.base * 2.0 ** min(self.failures, 32))  # 2**1024 overflows
        self.failures += 1
        return ceiling * self.rng.uniform(0.5, 1.0)

    def reset(self) -> None:
        self.failures = 0


class Subscriber:
    def __init__(
        self,
        url: str,
        handle: Handler,
        store: SubscriptionStore,
        *,
        expires: int = 3600,
        backoff: Backoff | None = None,
        open_timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.handle = handle
        self.store = store
        self.expires = expires
        self.backoff = backoff or Backoff()
        self.open_timeout = open_timeout
        # For operators and tests: how often it (re)subscribed and renewed.
        self.subscriptions = 0
        self.renewals = 0
        # Until when (the loop's clock) the kept subscription is worth renewing though the
        # notifier fails to: its last granted expiry, or one `expires` from the first
        # failure when none is known (after a restart). Past it, a new one is made.
        self._renew_until: float | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Keep a subscription until stop is set."""
        while not stop.is_set():
            try:
                async with connect(
                    self.url, open_timeout=self.open_timeout, max_size=TRANSPORT_MAX
                ) as ws:
                    await self._session(ws, stop)
            except Exception as exc:
                if stop.is_set():
                    break
                wait = self.backoff.next()
                # A drop, or the database down (the kept subscription is read and written
                # there), is a warning; anything else is ours, logged with its trace.
                expected = isinstance(exc, _DROPS) or is_unavailable(exc)
                log.log(
                    logging.WARNING if expected else logging.ERROR,
                    "EIDO notifier connection lost; reconnecting",
                    extra={"url": self.url, "error": f"{type(exc).__name__}: {exc}", "in_s": wait},
                    exc_info=not expected,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=wait)

    async def _session(self, ws: ClientConnection, stop: asyncio.Event) -> None:
        """One connection: subscribe (or renew the kept subscription), then serve events."""
        subscription, expires = await self._subscribe(ws)
        # The back-off starts again once the connection has carried a message, or stayed
        # up as long as the longest wait: not on subscribing alone, or a message that fails
        # each time it is sent again would have the subscriber reconnect twice a second.
        loop = asyncio.get_running_loop()
        steady = loop.call_later(self.backoff.cap, self.backoff.reset)
        stopping = asyncio.create_task(stop.wait())
        renew_at = self._renewal(expires)
        # The requestIds of the renewals asked on this connection and not yet answered, and
        # when the first of them is to be answered by (open_timeout after it was sent).
        asked: set[str] = set()
        answer_by: float | None = None
        try:
            while True:
                # Woken for whichever comes first: the answer's deadline, or the renewal.
                deadline = answer_by if answer_by is not None and answer_by <= renew_at else None
                message = await self._next(ws, stopping, renew_at if deadline is None else deadline)
                if message is None:
                    if stopping.done():
                        return
                    if deadline is not None:
                        # A notifier that keeps the connection but no longer answers: met
                        # as a drop (back-off, reconnect, renew), not renewed here forever
                        # while the subscription runs out.
                        raise Unanswered(
                            f"renewal of {subscription} not answered within {self.open_timeout:g} s"
                        )
                    renewal = self._subscribe_body(subscription, renew=True)
                    asked.add(renewal["subscribe"]["requestId"])
                    await self._send(ws, renewal)
                    # Its answer comes among the events; _dispatch takes it. Until then,
                    # ask again after as long once more, should the answer be lost.
                    renew_at = self._renewal(expires)
                    if answer_by is None:
                        answer_by = loop.time() + self.open_timeout
                    continue
                answer = await self._dispatch(ws, message, subscription, asked)
                self.backoff.reset()
                if answer is not None:  # renewed, or subscribed afresh: expires from now
                    if answer[0] != subscription:
                        asked.clear()  # a late answer about the old one is not about it
                    subscription, expires = answer
                    renew_at = self._renewal(expires)
                if not asked:  # answered (or no longer awaited): no deadline
                    answer_by = None
        finally:
            steady.cancel()
            stopping.cancel()

    @staticmethod
    def _renewal(expires: int) -> float:
        """When to renew a subscription that expires in `expires` s from now: at two thirds."""
        return asyncio.get_running_loop().time() + max(1.0, expires * 2 / 3)

    async def _next(
        self, ws: ClientConnection, stopping: asyncio.Task[Any], renew_at: float
    ) -> dict[str, Any] | None:
        """The next message, or None when it is time to renew or to stop."""
        timeout = max(0.0, renew_at - asyncio.get_running_loop().time())
        receiving = asyncio.create_task(ws.recv())
        done, _ = await asyncio.wait(
            {receiving, stopping}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if receiving not in done:
            receiving.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await receiving
            return None
        return await self._read(ws, receiving.result())

    async def _read(self, ws: ClientConnection, raw: str | bytes) -> dict[str, Any]:
        """A notifier message, as _message gives it; one over EVENT_MAX is not handled but
        answered TOO_LARGE, when it is an event whose transactionId is read (a message of
        nothing to act on, {})."""
        if not too_large(raw):
            return message_of(raw)
        transaction = oversize_transaction(raw)
        if transaction is None:
            log.warning(
                "EIDO notifier sent a message over %d bytes with no transactionId before any"
                " notification; ignored",
                EVENT_MAX,
            )
            return {}
        log.warning(
            "EIDO notifier sent an event over %d bytes; refused, nothing of it imported",
            EVENT_MAX,
            extra={"transaction": transaction[:200]},
        )
        await self._answer(ws, transaction, TOO_LARGE)
        return {}

    async def _dispatch(
        self, ws: ClientConnection, message: dict[str, Any], subscription: str, asked: set[str]
    ) -> tuple[str, int] | None:
        """Act on one notifier message; a new (subscription, expires) when it changes."""
        if "event" in message:
            await self._event(ws, message["event"], subscription)
        elif "subscribeResponse" in message:
            answer = answer_to(member(message, "subscribeResponse"), asked)
            if answer is None:
                return None
            asked.clear()
            if answer["statusCode"] == HANDLED:
                self.renewals += 1
                return subscription, self._granted(answer)
            await self._renewal_refused(subscription, answer)
            return await self._subscribe(ws)
        elif "terminate" in message:
            ended = member(message, "terminate")
            if ended is None:
                return None
            named = ended.get("subscriptionId", subscription)
            ours = named == subscription
            if not ours:
                log.warning("EIDO notifier ended a subscription this subscriber does not hold")
            status = HANDLED if ours else NO_SUCH_SUBSCRIPTION
            answer = {"requestId": ended.get("requestId", ""), "subscriptionId": named}
            await self._send(
                ws,
                {
                    "terminateResponse": {
                        **answer,
                        "statusCode": status,
                        "statusText": _STATUS_TEXT[status],
                    }
                },
            )
            if ours:
                await self.store.save(None)
                return await self._subscribe(ws)
        return None

    async def _event(self, ws: ClientConnection, event: Any, subscription: str | None) -> None:
        """Handle an event of `subscription` (None: one being made, its id not known yet);
        one that names another subscription is refused (481) and nothing of it imported."""
        transaction = event.get("transactionId") if isinstance(event, dict) else None
        if not isinstance(transaction, str):
            log.warning("EIDO notifier sent an event without a transactionId; ignored")
            return
        named = event.get("subscriptionId")
        if subscription is not None and named is not None and named != subscription:
            log.warning(
                "EIDO notifier sent an event of a subscription this subscriber does not hold;"
                " refused",
                extra={"subscription": str(named)[:200], "held": subscription},
            )
            await self._answer(ws, transaction, NO_SUCH_SUBSCRIPTION)
            return
        documents = event.get("notification") or []
        status = HANDLED
        for document in documents if isinstance(documents, list) else [None]:
            outcome = await self._handled(document) if isinstance(document, dict) else UNUSABLE
            # The worst outcome answers for the event: TRY_AGAIN above UNUSABLE above HANDLED.
            status = max(status, outcome, key=(HANDLED, UNUSABLE, TRY_AGAIN).index)
        await self._answer(ws, transaction, status)

    async def _answer(self, ws: ClientConnection, transaction: str, status: int) -> None:
        answer = {"transactionId": transaction, "statusCode": status}
        await self._send(ws, {"eventResponse": {**answer, "statusText": _STATUS_TEXT[status]}})

    async def _handled(self, document: dict[str, Any]) -> int:
        """The handler's answer; a failure of the handler's own is TRY_AGAIN, so the notifier
        sends the document again rather than the subscriber stopping."""
        try:
            return await self.handle(document)
        except Exception:
            log.exception("EIDO handler failed; the notifier will send it again")
            return TRY_AGAIN

    async def _subscribe(self, ws: ClientConnection) -> tuple[str, int]:
        """Renew the kept subscription, or make a new one; (its id, its expiry in s)."""
        kept = await self.store.load()
        if kept is not None:
            answer: dict[str, Any] | None
            try:
                answer = await self._ask(ws, self._subscribe_body(kept, renew=True))
            except Unanswered:
                answer = None
            if answer is not None and answer.get("statusCode") == HANDLED:
                self.subscriptions += 1
                return kept, self._granted(answer)
            await self._renewal_refused(kept, answer)
        answer = await self._ask(ws, self._subscribe_body(None, renew=False))
        subscription = answer.get("subscriptionId")
        if answer.get("statusCode") != HANDLED or not isinstance(subscription, str):
            status, text = answer.get("statusCode"), answer.get("statusText")
            raise Refused(f"subscription refused: {status} {text}")
        await self.store.save(subscription)
        self.subscriptions += 1
        return subscription, self._granted(answer)

    async def _renewal_refused(self, subscription: str, answer: dict[str, Any] | None) -> None:
        """After the notifier did not renew the subscription: a failure of its own, for
        now, keeps it (Refused: renewed again after back-off, so what the notifier holds
        for it is not lost); so does no answer in time (None: Unanswered); any other answer
        (481: it forgot us) forgets it, and so does either once the subscription's last
        granted expiry has passed."""
        if answer is None:
            for_now, why = True, f"no answer within {self.open_timeout:g} s"
        else:
            status, text = answer.get("statusCode"), answer.get("statusText")
            for_now, why = status in FAILING_FOR_NOW, f"{status} {text}"
        now = asyncio.get_running_loop().time()
        if self._renew_until is None:
            self._renew_until = now + self.expires
        if for_now and now < self._renew_until:
            if answer is None:
                raise Unanswered(f"renewal of {subscription} unanswered for now: {why}")
            raise Refused(f"renewal of {subscription} refused for now: {why}")
        log.info("EIDO subscription %s is gone (%s); subscribing afresh", subscription, why)
        await self.store.save(None)
        self._renew_until = None

    def _granted(self, answer: dict[str, Any]) -> int:
        """The life of a subscription the notifier has just granted (or renewed)."""
        expires = self._expires(answer)
        self._renew_until = asyncio.get_running_loop().time() + expires
        return expires

    def _expires(self, answer: dict[str, Any]) -> int:
        """The subscription's life in seconds, as the notifier gave it (an integer above
        0); the one asked for when it gave none, or one of another kind."""
        given = answer.get("expires")
        if isinstance(given, int) and not isinstance(given, bool) and given > 0:
            return min(given, EXPIRES_MAX)
        if given not in (None, 0):
            log.warning("EIDO notifier gave expires %r; taken as %d s", given, self.expires)
        return self.expires

    def _subscribe_body(self, subscription: str | None, *, renew: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"requestId": str(uuid.uuid4()), "expires": self.expires}
        if renew and subscription is not None:
            body["subscriptionId"] = subscription
        else:
            body.update(requestType="EIDO", requestSubType="new")
        return {"subscribe": body}

    async def _ask(self, ws: ClientConnection, request: dict[str, Any]) -> dict[str, Any]:
        """Send a subscribe and wait for its answer, handling events that come first."""
        await self._send(ws, request)
        request_id = request["subscribe"]["requestId"]
        # Within open_timeout of the sending, not of each message: events that kept coming
        # kept an unanswered subscribe waiting for as long as they came. Past it, messages
        # already here are still read (the time went on importing events, and the answer
        # may be among them; wait_for with no time left would not even look), but at most
        # LATE_MESSAGES of them: events as fast as they are imported must end it too.
        loop = asyncio.get_running_loop()
        answer_by = loop.time() + self.open_timeout
        late = 0
        while True:
            left = answer_by - loop.time()
            if left <= 0:
                late += 1
                if late > LATE_MESSAGES:
                    raise Unanswered(f"subscribe not answered within {self.open_timeout:g} s")
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=max(left, LATE_WAIT))
            except TimeoutError:
                raise Unanswered(f"subscribe not answered within {self.open_timeout:g} s") from None
            message = await self._read(ws, raw)
            if "subscribeResponse" in message:
                answer = answer_to(member(message, "subscribeResponse"), {request_id})
                if answer is not None:
                    return answer
            if "event" in message:
                await self._event(ws, message["event"], request["subscribe"].get("subscriptionId"))

    @staticmethod
    async def _send(ws: ClientConnection, message: dict[str, Any]) -> None:
        await ws.send(json.dumps(message, separators=(",", ":")))


def valid_url(url: str) -> bool:
    """Whether url is a WebSocket URL (ws:// or wss://) the client can use."""
    try:
        parse_uri(url)
    except InvalidURI:
        return False
    return True
