"""SQL for webhook subscriptions, their deliveries as the API shows and changes them, and
the housekeeping of both. The relay's own SQL is app/repositories/delivery_queue.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import Select, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.ids import first_id_at
from app.models import Event, WebhookDelivery, WebhookSubscription
from app.repositories.delivery_queue import wake_relays

# The disabled_reason of a terminal's subscription whose responder was deactivated: it
# stays off for good (a reactivated unit subscribes anew, as it gets new keys).
RETIRED = "responder deactivated"


# A rotation's previous secret once its overlap is over: it signs nothing any more.
_DROP_PREVIOUS_SECRETS = text(
    "UPDATE webhook_subscription SET previous_secret = NULL, previous_secret_until = NULL"
    " WHERE previous_secret_until <= now()"
)


async def drop_previous_secrets(conn: AsyncConnection) -> int:
    """Forget the previous secrets whose overlap has ended; how many."""
    return (await conn.execute(_DROP_PREVIOUS_SECRETS)).rowcount


async def disable_terminal_subscriptions(
    session: AsyncSession, *, agency_id: UUID, responder_id: UUID, reason: str
) -> list[UUID]:
    """Disable the responder's terminal subscriptions for reason: the active ones, and those
    off for another reason (paused, or a 410), which reason then keeps off; their ids."""
    stmt = (
        update(WebhookSubscription)
        .where(
            WebhookSubscription.agency_id == agency_id,
            WebhookSubscription.responder_id == responder_id,
            WebhookSubscription.disabled_reason.is_distinct_from(reason),
        )
        .values(active=False, disabled_reason=reason)
        .returning(WebhookSubscription.id)
        .execution_options(synchronize_session=False)
    )
    return list((await session.execute(stmt)).scalars())


@dataclass(frozen=True)
class Failed:
    """Deliveries failed as their subscription changed: how many, and how many of them had
    an attempt under way (a relay's lease not yet run out), whose outcome the relay counts
    when it ends. A lease run out is a relay gone: its failure is counted with the change."""

    total: int
    under_way: int


# Pending deliveries of a subscription turned off, or of event types it no longer hears:
# failed at once, no attempt counted, so that turning it back on does not send them. One
# whose attempt is under way keeps its lease: the relay gives it up when the attempt ends;
# a success is recorded (it was sent), a failure leaves it failed (_RETRY, _FAILED).
_FAIL_PENDING = text(
    """
UPDATE webhook_delivery d
SET status = 'failed',
    last_error = coalesce(CAST(:error AS text), e.type || ' is no longer subscribed')
FROM event e
WHERE d.subscription_id = :subscription_id AND d.status = 'pending'
  AND e.id = d.event_id
  AND (CAST(:types AS text[]) IS NULL OR e.type = ANY (CAST(:types AS text[])))
RETURNING d.lease_until > now()
"""
)


async def fail_pending(
    session: AsyncSession, *, subscription_id: UUID, types: Sequence[str] | None = None
) -> Failed:
    """Fail the subscription's pending deliveries: all of them ("subscription disabled"),
    or those of the event types given ("<type> is no longer subscribed")."""
    error = "subscription disabled" if types is None else None
    params = {
        "subscription_id": subscription_id,
        "types": None if types is None else list(types),
        "error": error,
    }
    leased = (await session.execute(_FAIL_PENDING, params)).scalars().all()
    return Failed(total=len(leased), under_way=sum(bool(live) for live in leased))


# Not one whose attempt is under way: its lease is a relay's until the outcome is recorded.
_REQUEUE = text(
    "UPDATE webhook_delivery SET status = 'pending', lease_until = NULL, next_attempt_at = now()"
    " WHERE id = :id AND (lease_until IS NULL OR lease_until < now()) RETURNING id"
)


async def requeue(session: AsyncSession, delivery: WebhookDelivery) -> bool:
    """Make a delivery due now and wake the relay (NOTIFY is sent at commit). False, and
    nothing changed, while a relay is sending it: a second claim would send it twice."""
    if (await session.execute(_REQUEUE, {"id": delivery.id})).first() is None:
        return False
    await wake_relays(session)
    return True


# A subscription's failed deliveries of events written at or after :since (the event's
# created_at, the time its body's `timestamp` gives), of types it still takes, due again
# now. Delivery ids are
# time-ordered by the database's clock as each was made, a moment after its event's time
# by the service's: ids from a margin before :since bound the scan by the subscription's
# index without leaving out an event of a request that ran long, or of an instance whose
# clock runs ahead of the database's. Not one whose attempt is under way (failed meanwhile,
# by a pause): a second claim would send it twice, as _REQUEUE says.
_REQUEUE_FAILED = text(
    """
WITH requeued AS (
    UPDATE webhook_delivery d
    SET status = 'pending', lease_until = NULL, next_attempt_at = now()
    FROM event e, webhook_subscription s
    WHERE d.subscription_id = :subscription_id AND d.id >= :first_id AND d.status = 'failed'
      AND (d.lease_until IS NULL OR d.lease_until < now())
      AND e.id = d.event_id AND e.created_at >= :since
      AND s.id = d.subscription_id AND e.type = ANY (s.events)
    RETURNING d.id
)
SELECT count(*) FROM requeued
"""
)
_SINCE_MARGIN = timedelta(hours=1)


async def requeue_failed(session: AsyncSession, *, subscription_id: UUID, since: datetime) -> int:
    """Make the subscription's failed deliveries of events since then due now, and wake the
    relay if there are any (NOTIFY is sent at commit). How many."""
    params = {
        "subscription_id": subscription_id,
        "first_id": first_id_at(since - _SINCE_MARGIN),
        "since": since,
    }
    count = int((await session.execute(_REQUEUE_FAILED, params)).scalar_one())
    if count:
        await wake_relays(session)
    return count


def subscriptions_statement(agency_id: UUID) -> Select[WebhookSubscription]:
    return select(WebhookSubscription).where(WebhookSubscription.agency_id == agency_id)


async def get_subscription(
    session: AsyncSession, *, agency_id: UUID, subscription_id: UUID, for_update: bool = False
) -> WebhookSubscription | None:
    """The agency's subscription; for_update: locked, and read afresh if loaded before.
    FOR NO KEY UPDATE: the changes made under it leave its id alone, so the event fan-out's
    foreign-key checks (FOR KEY SHARE) go on; a call's intake never waits for a PATCH,
    however many deliveries it fails."""
    stmt = subscriptions_statement(agency_id).where(WebhookSubscription.id == subscription_id)
    if for_update:
        stmt = stmt.with_for_update(key_share=True).execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


def deliveries_statement(
    subscription_id: UUID, status: str | None = None
) -> Select[WebhookDelivery]:
    stmt = select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)
    return stmt if status is None else stmt.where(WebhookDelivery.status == status)


async def get_delivery(
    session: AsyncSession, *, agency_id: UUID, delivery_id: UUID, for_update: bool = True
) -> tuple[WebhookDelivery, str] | None:
    """The agency's delivery with its event's type; for_update: locked, and read afresh if
    loaded before."""
    stmt = (
        select(WebhookDelivery, Event.type)
        .join(Event, Event.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.agency_id == agency_id, WebhookDelivery.id == delivery_id)
    )
    if for_update:
        stmt = stmt.with_for_update(of=WebhookDelivery).execution_options(populate_existing=True)
    row = (await session.execute(stmt)).first()
    return None if row is None else (row[0], row[1])


async def event_types(session: AsyncSession, event_ids: list[UUID]) -> dict[UUID, str]:
    if not event_ids:
        return {}
    rows = await session.execute(select(Event.id, Event.type).where(Event.id.in_(event_ids)))
    return {row.id: row.type for row in rows}
