"""SQL of the delivery queue as the webhook relay works it (app/webhooks/relay.py and
outcomes.py): claim due deliveries, record each attempt's outcome under its claim's lease,
give back what a stopping relay claimed, and turn off a subscription whose receiver
answered 410. Subscriptions, and deliveries as the API shows and changes them, are
app/repositories/webhooks.py."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.events.catalogue import DELIVERIES_DUE

_NOTIFY = text("SELECT pg_notify(:channel, '')")


async def wake_relays(conn: AsyncConnection | AsyncSession) -> None:
    """Tell every relay that deliveries are due now (NOTIFY, sent at commit)."""
    await conn.execute(_NOTIFY, {"channel": DELIVERIES_DUE})


# Claim due deliveries for this worker: row locks skip what another worker is claiming,
# and the lease (longer than the HTTP timeout) keeps them ours until we report back. Each
# subscription (one receiver) gets at most its free slots (:per_target, less what this
# worker already has in flight for it: :busy_ids / :busy_free), so a slow receiver's
# backlog never fills a claim and never waits, leased, behind its own queue.
_CLAIM = text(
    """
WITH ranked AS (
    SELECT d.id, d.next_attempt_at,
           row_number() OVER (PARTITION BY d.subscription_id
                              ORDER BY d.next_attempt_at, d.id) AS rank,
           coalesce(busy.free, :per_target) AS free
    FROM webhook_delivery d
    LEFT JOIN unnest(CAST(:busy_ids AS uuid[]), CAST(:busy_free AS int[])) AS busy(id, free)
           ON busy.id = d.subscription_id
    WHERE d.status = 'pending' AND d.next_attempt_at <= now()
      AND (d.lease_until IS NULL OR d.lease_until < now())
), due AS (
    SELECT d.id, d.last_attempt_at AS previous_attempt_at
    FROM webhook_delivery d JOIN ranked r ON r.id = d.id
    WHERE r.rank <= r.free AND d.status = 'pending'
      AND (d.lease_until IS NULL OR d.lease_until < now())
    ORDER BY r.next_attempt_at
    LIMIT :batch
    FOR UPDATE OF d SKIP LOCKED
), claimed AS (
    UPDATE webhook_delivery d
    SET lease_until = now() + CAST(:lease AS interval), attempts = d.attempts + 1,
        last_attempt_at = now()
    FROM due WHERE d.id = due.id
    RETURNING d.id, d.subscription_id, d.event_id, d.attempts, d.lease_until,
              due.previous_attempt_at
)
SELECT c.id, c.attempts, c.lease_until, c.previous_attempt_at, c.subscription_id, s.url,
       s.secret, s.active, e.type = ANY (s.events) AS subscribed,
       CASE WHEN s.previous_secret_until > now() THEN s.previous_secret END AS previous_secret,
       e.type, e.payload, e.created_at
FROM claimed c
JOIN webhook_subscription s ON s.id = c.subscription_id
JOIN event e ON e.id = c.event_id
"""
)
# An attempt's outcome is recorded only while its claim's lease is the delivery's own (the
# very lease_until the claim set): once the lease ran out and another claim took it, or a
# retry requested by hand made it due again, the attempt that holds it now records its own.
_DELIVERED = text(
    "UPDATE webhook_delivery SET status = 'delivered', delivered_at = now(),"
    " last_status_code = d.code, last_error = NULL, lease_until = NULL"
    " FROM unnest(CAST(:ids AS uuid[]), CAST(:leases AS timestamptz[]), CAST(:codes AS int[]))"
    " AS d(id, lease_until, code)"
    " WHERE webhook_delivery.id = d.id AND webhook_delivery.lease_until = d.lease_until"
)
# A failed attempt is scheduled again only on a delivery still pending. One failed while
# its attempt was under way, by its subscription going off or no longer hearing its type
# (fail_pending and _DISABLE fail those too, their lease kept), stays failed: turning the
# subscription back on before the next attempt would send it after all. Its lease is
# given up all the same, and RETURNING gives its status. A success is recorded whatever
# happened meanwhile (_DELIVERED): it was delivered. Either way the relay counts it in the
# metrics as the attempt ends (the change that failed it did not: it would count twice).
_RETRY = text(
    """
UPDATE webhook_delivery
SET next_attempt_at = CASE WHEN status = 'pending'
                           THEN now() + CAST(:delay AS interval) ELSE next_attempt_at END,
    last_status_code = :code,
    last_error = CASE WHEN status = 'pending' THEN CAST(:error AS text) ELSE last_error END,
    lease_until = NULL
WHERE id = :id AND lease_until = :lease_until
RETURNING status
"""
)
# The delivery under the claim's lease, locked, with its status before the statement.
# Each write below RETURNs whether it was pending: the relay counts one failed meanwhile
# as its attempt ends (see _RETRY).
_CLAIMED_ROW = """
WITH old AS (
    SELECT id, status FROM webhook_delivery
    WHERE id = :id AND lease_until = :lease_until
    FOR UPDATE
)"""
# A failure that ends the delivery (a 410, or the schedule spent): what the attempt got is
# recorded whatever happened meanwhile, as a success is. The attempt ends it by itself, so
# its answer and error are why it failed even if it failed meanwhile: a 410 to a delivery
# in flight as another delivery's 410 turned its subscription off said "no answer came"
# (last_status_code null, "subscription disabled"), though its receiver had answered it.
_FAILED = text(
    _CLAIMED_ROW
    + """
UPDATE webhook_delivery d
SET status = 'failed', lease_until = NULL, last_status_code = :code,
    last_error = CAST(:error AS text)
FROM old
WHERE d.id = old.id
RETURNING old.status = 'pending'
"""
)
# Only one still on: one already off keeps its reason (a terminal's retirement above all,
# which a 410 to a delivery sent before it must not turn into one that can be turned on).
# Turned off by the relay (a receiver's 410): in the agency's audit trail as a change of
# `active`, as a PATCH would be, by role `relay` with no key. Only if it was on.
_DISABLE = text(
    """
WITH off AS (
    UPDATE webhook_subscription SET active = false, disabled_reason = :reason
    WHERE id = :id AND active
    RETURNING id, agency_id
), failed AS (
    -- Its pending deliveries fail as it goes off, as a PATCH's do (_FAIL_PENDING), but
    -- the one answered 410, which the relay records itself.
    UPDATE webhook_delivery d SET status = 'failed', last_error = 'subscription disabled'
    FROM off
    WHERE d.subscription_id = off.id AND d.status = 'pending' AND d.id <> :delivery_id
    RETURNING coalesce(d.lease_until > now(), false) AS under_way
)
INSERT INTO audit_entry (id, agency_id, at, key_id, role, action, resource_type, resource_id,
                         outcome, request_id, detail)
SELECT cit_uuid7(), off.agency_id, now(), NULL, 'relay', 'webhook.update', 'webhook',
       off.id::text, 'success', NULL,
       jsonb_build_object(
           'changed', jsonb_build_object('active', jsonb_build_object('from', true, 'to', false)),
           'disabled_reason', CAST(:reason AS text),
           'via', 'relay')
       || CASE WHEN (SELECT count(*) FROM failed) > 0
               THEN jsonb_build_object('failed_deliveries', (SELECT count(*) FROM failed))
               ELSE '{}'::jsonb END
FROM off
RETURNING (SELECT count(*) FROM failed WHERE NOT under_way)
"""
)
# Failed without being sent (its subscription was off when claimed): the claim's attempt
# is not counted, and the last attempt is the one before it. One failed meanwhile keeps
# its error (no attempt of this claim told anything).
_FAILED_UNSENT = text(
    _CLAIMED_ROW
    + """
UPDATE webhook_delivery d
SET status = 'failed', attempts = d.attempts - 1, last_attempt_at = :previous_attempt_at,
    last_error = CASE WHEN old.status = 'pending' THEN CAST(:error AS text) ELSE d.last_error END,
    lease_until = NULL
FROM old
WHERE d.id = old.id
RETURNING old.status = 'pending'
"""
)
# A stopping relay gives back what it claimed: due now, unleased. Only a lease still its own
# (the very lease_until its claim set) is released; one that ran out and was claimed again,
# or an attempt already recorded, is left alone. An attempt never begun is not counted. One
# failed meanwhile (its subscription went off) stays failed, its lease given up.
_RELEASE = text(
    "UPDATE webhook_delivery d SET lease_until = NULL,"
    " next_attempt_at = least(d.next_attempt_at, now()),"
    " attempts = d.attempts - CASE WHEN r.sent THEN 0 ELSE 1 END"
    " FROM unnest(CAST(:ids AS uuid[]), CAST(:leases AS timestamptz[]), CAST(:sent AS bool[]))"
    " AS r(id, lease_until, sent)"
    " WHERE d.id = r.id AND d.lease_until = r.lease_until"
    " RETURNING d.status = 'pending'"
)

# The first entry of the partial index on pending deliveries: one index probe, however long
# the queue. A delivery not due yet (waiting out its back-off) gives a negative age.
_OLDEST_PENDING = text(
    "SELECT coalesce(extract(epoch FROM now() - min(next_attempt_at)), 0)"
    " FROM webhook_delivery WHERE status = 'pending'"
)


async def claim_due(
    conn: AsyncConnection,
    *,
    batch: int,
    lease: timedelta,
    per_target: int,
    busy: Mapping[UUID, int] | None = None,
) -> list[Row[Any]]:
    """Claim up to `batch` due deliveries, at most `per_target` per subscription less what
    `busy` says this worker has in flight for it."""
    busy = busy or {}
    params = {
        "batch": batch,
        "lease": lease,
        "per_target": per_target,
        "busy_ids": list(busy),
        "busy_free": [max(0, per_target - n) for n in busy.values()],
    }
    return list((await conn.execute(_CLAIM, params)).all())


# Each delivery below is named by its id and the lease_until of the claim whose attempt's
# outcome is recorded (see _DELIVERED).
Claimed = tuple[UUID, datetime]


# Each write below returns how many outcomes it recorded: none for a claim whose lease the
# delivery no longer holds.


async def mark_delivered(conn: AsyncConnection, outcomes: list[tuple[Claimed, int]]) -> int:
    """Record many successful deliveries in one statement."""
    if not outcomes:
        return 0
    params = {
        "ids": [i for (i, _), _ in outcomes],
        "leases": [lease for (_, lease), _ in outcomes],
        "codes": [c for _, c in outcomes],
    }
    return _count(await conn.execute(_DELIVERED, params))


async def schedule_retry(
    conn: AsyncConnection, claimed: Claimed, *, delay: timedelta, code: int | None, error: str
) -> str | None:
    """Schedule the delivery's next attempt: its status ('pending'; 'failed' if it failed
    meanwhile, and stays so), or None if its claim's lease was no longer its own (nothing
    recorded)."""
    params = {"id": claimed[0], "lease_until": claimed[1], "delay": delay}
    result = await conn.execute(_RETRY, {**params, "code": code, "error": error})
    status: str | None = result.scalar_one_or_none()
    return status


async def mark_failed(
    conn: AsyncConnection, claimed: Claimed, *, code: int | None, error: str
) -> str | None:
    """Fail the delivery whose attempt ended it (a 410, or its schedule spent), recording
    what the attempt got: its status before, 'pending' or 'failed' (failed meanwhile); None
    if its claim's lease was no longer its own (nothing recorded)."""
    params = {"id": claimed[0], "lease_until": claimed[1], "code": code, "error": error}
    return _status_before(await conn.execute(_FAILED, params))


async def mark_failed_unsent(
    conn: AsyncConnection,
    claimed: Claimed,
    *,
    previous_attempt_at: datetime | None,
    error: str,
) -> str | None:
    """As mark_failed, for a delivery never sent."""
    params = {"id": claimed[0], "lease_until": claimed[1], "error": error}
    result = await conn.execute(
        _FAILED_UNSENT, {**params, "previous_attempt_at": previous_attempt_at}
    )
    return _status_before(result)


def _status_before(result: Any) -> str | None:
    was_pending: bool | None = result.scalar_one_or_none()
    if was_pending is None:
        return None
    return "pending" if was_pending else "failed"


def _count(result: Any) -> int:
    return int(result.rowcount or 0)


async def release_leases(
    conn: AsyncConnection, leases: list[tuple[UUID, datetime, bool]]
) -> tuple[int, int]:
    """Give back claimed deliveries (id, the lease_until of their claim, whether the attempt
    was sent) so that any relay sends them at once; wake the relays. Returns how many were
    given back, and how many had failed meanwhile (only their leases given up)."""
    if not leases:
        return 0, 0
    result = await conn.execute(
        _RELEASE,
        {
            "ids": [i for i, _, _ in leases],
            "leases": [lease for _, lease, _ in leases],
            "sent": [sent for _, _, sent in leases],
        },
    )
    await wake_relays(conn)
    pending = result.scalars().all()
    return sum(pending), len(pending) - sum(pending)


async def disable_subscription(
    conn: AsyncConnection, *, subscription_id: UUID, delivery_id: UUID, reason: str
) -> int:
    """Turn an active subscription off (a receiver's 410 to delivery_id), in the trail; its
    other pending deliveries fail. How many did (0 if it was off already), less those
    whose attempts were under way: their relays count them as the attempts end."""
    params = {"id": subscription_id, "delivery_id": delivery_id, "reason": reason}
    result = await conn.execute(_DISABLE, params)
    failed: int | None = result.scalar_one_or_none()
    return failed or 0


async def oldest_pending_seconds(conn: AsyncConnection) -> float:
    """How long the pending delivery due earliest has been due (negative: none is due yet)."""
    return float((await conn.execute(_OLDEST_PENDING)).scalar_one())
