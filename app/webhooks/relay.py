"""The outbox relay: claim due deliveries, sign and send them; what each attempt came to is
recorded by app/webhooks/outcomes.py.

Its metrics: each outcome counted once recorded (delivered, retry, failed), each first
attempt timed from its event, and the outbox's oldest pending delivery read every few
seconds (app/metrics.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from app import metrics
from app.db.engine import connections_in_use
from app.db.failures import is_unavailable, log_failure
from app.db.listen import keep_listening
from app.encryption import DataCipher, UndecryptableValue
from app.events.body import event_body
from app.events.catalogue import DELIVERIES_DUE
from app.events.stored import documented
from app.repositories import delivery_queue as repo
from app.settings import Settings
from app.tasks import cancel_and_wait
from app.tracing import webhook_send
from app.webhooks.connection import Answer
from app.webhooks.outcomes import Outcomes
from app.webhooks.retries import parse_schedule, retry_after
from app.webhooks.sender import SEND_ERRORS, Sender
from app.webhooks.signing import sign_with_each, signing_secrets
from app.webhooks.targets import TargetRefused, check_url_shape, network_backend

log = logging.getLogger(__name__)

# SPEC §3.5: each attempt has a 10 s timeout, for each step and for the attempt in all.
HTTP_TIMEOUT_SECONDS = 10.0
# How often the relay reads the outbox's oldest pending delivery for the metrics.
OUTBOX_GAUGE_SECONDS = 5.0
# Longer than an attempt may take (HTTP_TIMEOUT_SECONDS, and as long again waiting for a
# connection), so a claimed delivery is never sent twice at once. An attempt starts as soon
# as it is claimed (no claim waits behind its receiver's queue).
LEASE = timedelta(seconds=30)
# Attempts in flight in one relay, in all and per receiver (subscription): a slow or dead
# receiver holds at most PER_TARGET of them, and every other receiver's deliveries go on.
MAX_IN_FLIGHT = 256
PER_TARGET = 32
# Connections open at once to all receivers, idle ones included (app/webhooks/sender.py):
# attempts beyond it wait for one, claimed but not yet sent.
MAX_CONNECTIONS = 100
# While attempts are in flight, claims are at least this far apart (Relay._gather): under
# the bench's dispatch load, 12 deliveries a claim instead of 4, a third of them empty.
GATHER_SECONDS = 0.02


class Relay:
    """Deliver webhooks from the outbox; safe to run in several processes at once.

    Deliveries are independent: each claimed delivery is attempted at once, on its own
    task, and its outcome recorded as soon as it is known. Claims fill only the free slots
    (MAX_IN_FLIGHT in all, PER_TARGET per receiver), so one receiver answering in 8 s
    delays only its own queue.
    While attempts are in flight, claims are at least GATHER_SECONDS apart, and a finished
    attempt wakes the relay only when a limit held the last claim back: under load a claim
    takes what several commits made due, not one commit's deliveries or none.

    stop() ends it gracefully: it claims nothing more, gives back at once the deliveries
    whose request has not begun (waiting for a connection, say), lets the requests already
    sent finish for up to CIT_SHUTDOWN_GRACE_SECONDS, and gives back those still unanswered
    then. What it gives back is due at once for any relay, not after its lease.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        cipher: DataCipher,
        *,
        batch: int = 50,
        poll_seconds: float = 1.0,
        max_in_flight: int = MAX_IN_FLIGHT,
        per_target: int = PER_TARGET,
        max_connections: int = MAX_CONNECTIONS,
        gather_seconds: float = GATHER_SECONDS,
    ) -> None:
        self.engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.cipher = cipher
        self.allow_private = settings.webhook_allow_private_targets
        self.schedule = parse_schedule(settings.webhook_retry_schedule)
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.max_in_flight = max_in_flight
        self.per_target = per_target
        self.max_connections = max_connections
        self.grace = settings.shutdown_grace_seconds
        self.gather_seconds = gather_seconds
        self._wake = asyncio.Event()
        self._stopping = False
        self._sender: Sender | None = None
        # Attempts in flight (with their claimed rows), how many per subscription, and the
        # ones whose request has begun to go out.
        self._tasks: dict[asyncio.Task[None], Any] = {}
        self._sent: set[Any] = set()
        self._in_flight: dict[Any, int] = {}
        # What held the last claim back: every slot taken (full), or a receiver's free slots,
        # all filled (its subscription in capped). An attempt that ends then frees a slot
        # something may wait for, and wakes the relay; otherwise nothing due was left.
        self._full = False
        self._capped: set[Any] = set()
        self._outcomes = Outcomes(self.engine, self.schedule, self._wake.set)
        # Whether the last round found the database unavailable (said once per outage).
        self._database_down = False

    def stop(self) -> None:
        """Stop gracefully (run() returns once it has): call it on the relay's loop."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Deliver until stop() or cancelled: woken by NOTIFY at commit, polling for due
        retries."""
        # Outside tests, connections reach public addresses only, checked as they are made.
        async with Sender(
            network_backend(allow_private=self.allow_private),
            timeout=HTTP_TIMEOUT_SECONDS,
            total=HTTP_TIMEOUT_SECONDS,
            max_connections=self.max_connections,
            keep_idle=self.per_target,
        ) as sender:
            self._sender = sender
            # LISTEN on a connection of its own, kept (and re-made after a database
            # restart) by a task of its own; the poll below covers any gap.
            listening = asyncio.create_task(self._keep_listening())
            recording = asyncio.create_task(self._outcomes.record_delivered())
            gauging = asyncio.create_task(self._gauge_outbox())
            unwatch = metrics.watch(
                "pool_in_use", functools.partial(connections_in_use, self.engine)
            )
            try:
                while not self._stopping:
                    self._wake.clear()
                    claimed_at = asyncio.get_running_loop().time()
                    asked, claimed = await self._round()
                    if claimed and claimed >= asked:
                        continue  # more may be due, and there is room
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
                    await self._gather(claimed_at)
            finally:
                unwatch()
                await cancel_and_wait(listening, gauging)
                await self._finish_or_release()
                self._outcomes.close()
                await recording

    async def _gather(self, claimed_at: float) -> None:
        """While attempts are in flight, claim at most every GATHER_SECONDS: under load the
        deliveries committed meanwhile go in one claim, not one claim per commit. An idle
        relay claims at once."""
        if not self._tasks or self._stopping:
            return
        left = claimed_at + self.gather_seconds - asyncio.get_running_loop().time()
        if left > 0:
            await asyncio.sleep(left)

    async def _finish_or_release(self) -> None:
        """Give back the claims not yet sent, wait up to the grace for the sent ones to be
        answered and recorded, then give back those still unanswered."""
        deadline = asyncio.get_running_loop().time() + self.grace
        unsent = {task: row for task, row in self._tasks.items() if row.id not in self._sent}
        await self._cut_off(unsent)
        if self._tasks:
            await asyncio.wait(
                set(self._tasks), timeout=max(0.0, deadline - asyncio.get_running_loop().time())
            )
        await self._cut_off(dict(self._tasks))

    async def _cut_off(self, tasks: dict[asyncio.Task[None], Any]) -> None:
        """Cancel these attempts and release their leases."""
        # One already done has had its outcome taken (a success waits for the recorder,
        # leased): giving it back would send it again.
        tasks = {task: row for task, row in tasks.items() if not task.done()}
        if not tasks:
            return
        # Whether each was sent is read before the cancelled tasks forget it.
        leases = [(row.id, row.lease_until, row.id in self._sent) for row in tasks.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            async with self.engine.connect() as conn:
                released, failed = await repo.release_leases(conn, leases)
        except Exception as exc:
            # Their leases run out and they are claimed again then.
            log_failure(log, "webhook leases not released", exc)
            return
        # Failed while under way (their subscription went off): counted as they end.
        metrics.count_webhooks("failed", failed)
        log.info(
            "webhook leases released",
            extra={"released": released, "sent": sum(sent for _, _, sent in leases)},
        )

    async def _round(self) -> tuple[int, int]:
        """One claim: (how many it asked for, how many it got)."""
        try:
            claimed = await self.run_once()
        except Exception as exc:
            if not is_unavailable(exc):
                log.warning("webhook relay round failed", exc_info=True)
            elif not self._database_down:
                # Once per outage, in one line: it fails at every poll until the database
                # is back (a traceback a second, before).
                log.warning(
                    "webhook relay waits for the database",
                    extra={"error": f"{type(exc).__name__}: {exc}"[:300]},
                )
                self._database_down = True
            return 0, 0
        if self._database_down:
            log.info("webhook relay reaches the database again")
            self._database_down = False
        return claimed

    async def _keep_listening(self) -> None:
        """LISTEN for due deliveries until cancelled (app/db/listen.py re-connects after a
        database restart); each (re)connection wakes the relay, for what was missed."""
        await keep_listening(
            self.engine,
            DELIVERIES_DUE,
            on_notify=self._notified,
            on_listening=self._wake.set,
            log=log,
            who="webhook relay",
        )

    async def _gauge_outbox(self) -> None:
        """Keep cit_outbox_oldest_pending_seconds current: one index probe every few
        seconds; a failed read (the database down) leaves the last value."""
        while True:
            try:
                async with self.engine.connect() as conn:
                    metrics.set_outbox_oldest_pending(await repo.oldest_pending_seconds(conn))
            except Exception:
                log.debug("outbox gauge not read", exc_info=True)
            await asyncio.sleep(OUTBOX_GAUGE_SECONDS)

    def _notified(self, *_: Any) -> None:
        self._wake.set()

    async def run_once(self) -> tuple[int, int]:
        """Claim due deliveries into the free slots and start an attempt for each; returns
        how many it asked for and how many it claimed. The attempts go on after it returns."""
        asked = min(self.batch, self.max_in_flight - len(self._tasks))
        if asked <= 0:
            self._full = True
            return 0, 0
        # In flight as the claim asks, and so each receiver's free slots: a receiver whose
        # free slots the claim fills may have more due.
        busy = dict(self._in_flight)
        free = {t: self.per_target - n for t, n in busy.items()}
        async with self.engine.connect() as conn:
            claimed = await repo.claim_due(
                conn, batch=asked, lease=LEASE, per_target=self.per_target, busy=busy
            )
        for row in claimed:
            target = row.subscription_id
            self._in_flight[target] = self._in_flight.get(target, 0) + 1
            task = asyncio.create_task(self._deliver(row))
            self._tasks[task] = row
            task.add_done_callback(functools.partial(self._finished, target=target))
            free[target] = free.get(target, self.per_target) - 1
        self._full = len(self._tasks) >= self.max_in_flight
        self._capped = {t for t, left in free.items() if left <= 0}
        return asked, len(claimed)

    def _finished(self, task: asyncio.Task[None], *, target: Any) -> None:
        row = self._tasks.pop(task, None)
        if row is not None:
            self._sent.discard(row.id)
        left = self._in_flight.get(target, 1) - 1
        if left > 0:
            self._in_flight[target] = left
        else:
            self._in_flight.pop(target, None)
        if self._full or target in self._capped:
            # A slot the last claim lacked is free: claim what is due for it.
            self._full = False
            self._capped.discard(target)
            self._wake.set()

    async def _deliver(self, row: Any) -> None:
        """Attempt one delivery; its outcome is recorded as soon as it is known."""
        try:
            with webhook_send(
                delivery_id=row.id,
                subscription_id=row.subscription_id,
                event_type=row.type,
                attempt=row.attempts,
            ):
                code = await self._attempt(row)
        except Exception as exc:
            log.warning("webhook delivery attempt failed in the relay", exc_info=True)
            code = None
            await self._outcomes.unexpected(row, exc)
        if row.attempts == 1:
            metrics.observe_first_attempt((datetime.now(UTC) - row.created_at).total_seconds())
        if code:
            self._outcomes.delivered(row, code)

    async def _attempt(self, row: Any) -> int | None:
        """Send one delivery. Returns the status code when it succeeded (the caller records
        it); failures and retries are recorded here."""
        code: int | None = None
        wait_hint: float | None = None
        try:
            if not row.active:
                await self._outcomes.fail_unsent(row, error="subscription disabled")
                return None
            if not row.subscribed:  # its events changed since (PATCH /v1/webhooks/{id})
                await self._outcomes.fail_unsent(row, error=f"{row.type} is no longer subscribed")
                return None
            # The shape only: whether the host is public is checked as each connection is
            # made (network_backend), against the address connected to. A kept-alive
            # connection was checked when made, so no name is looked up per delivery.
            check_url_shape(row.url)
            answer = await self._send(row)
            code = answer.status
            if 200 <= code < 300:
                return code
            if code == 410:
                await self._outcomes.gone(row, code)
                return None
            wait_hint = retry_after(answer.retry_after)
            error = f"receiver answered {code}"
        except TargetRefused as exc:
            # Refused as the connection was made (or by the URL's shape): nothing went out.
            await self._outcomes.fail_unsent(row, error=str(exc))
            return None
        except SEND_ERRORS as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        except UndecryptableValue as exc:
            # Retried on the schedule: restoring the missing key to CIT_DATA_KEY recovers it.
            log.error("webhook secret cannot be decrypted", extra={"error": str(exc)})
            error = "the subscription's signing secret cannot be decrypted (CIT_DATA_KEY)"
        await self._outcomes.retry_or_fail(row, code=code, error=error, wait_hint=wait_hint)
        return None

    async def _send(self, row: Any) -> Answer:
        assert self._sender is not None
        body = event_body(row.type, at=row.created_at, payload=documented(row.type, row.payload))
        secrets = signing_secrets(
            self.cipher, row.subscription_id, current=row.secret, previous=row.previous_secret
        )
        msg_id = str(row.id)
        timestamp = str(int(time.time()))
        signature = sign_with_each(secrets, msg_id=msg_id, timestamp=int(timestamp), body=body)
        headers = [
            (b"content-type", b"application/json"),
            (b"user-agent", b"cit-dispatch-webhooks/1"),
            (b"webhook-id", msg_id.encode()),
            (b"webhook-timestamp", timestamp.encode()),
            (b"webhook-signature", signature.encode()),
        ]
        # Sent once its headers begin to go out: from then on the receiver may act on it.
        # Until then (e.g. waiting for a free connection) it is not yet sent.
        sent = functools.partial(self._sent.add, row.id)
        return await self._sender.post(row.url, body, headers, sending=sent)
