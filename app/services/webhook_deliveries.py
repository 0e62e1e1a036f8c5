"""A webhook subscription's delivery log: read it, and send deliveries again."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Conflict, NotFound
from app.models import WebhookDelivery, WebhookSubscription
from app.repositories import webhooks as repo
from app.repositories.pagination import fetch_page
from app.schemas.webhooks import DeliveryOut
from app.services import webhooks
from app.vocabulary import DeliveryStatus


def _delivery(row: WebhookDelivery, event_type: str) -> DeliveryOut:
    return DeliveryOut(
        id=row.id,
        subscription_id=row.subscription_id,
        event_id=row.event_id,
        event_type=event_type,
        status=row.status,
        attempts=row.attempts,
        # A finished delivery keeps the time its last attempt became due: no attempt is
        # next (until a retry by hand makes it pending again).
        next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
        last_attempt_at=row.last_attempt_at,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        delivered_at=row.delivered_at,
        created_at=row.created_at,
    )


async def deliveries(
    session: AsyncSession,
    *,
    agency_id: UUID,
    subscription_id: UUID,
    status: DeliveryStatus | None = None,
    limit: int,
    cursor: str | None,
) -> tuple[list[DeliveryOut], str | None]:
    """The delivery log of a subscription (those with status, if given), newest first."""
    await webhooks.get(session, agency_id=agency_id, subscription_id=subscription_id)
    rows, next_cursor = await fetch_page(
        session,
        repo.deliveries_statement(subscription_id, status),
        WebhookDelivery.id,
        limit=limit,
        cursor=cursor,
        newest_first=True,
    )
    types = await repo.event_types(session, [r.event_id for r in rows])
    return [_delivery(r, types[r.event_id]) for r in rows], next_cursor


async def delivery(session: AsyncSession, *, agency_id: UUID, delivery_id: UUID) -> DeliveryOut:
    """One delivery, as its subscription's log shows it: found by the `webhook-id` a
    receiver got, or a log line quotes."""
    found = await repo.get_delivery(
        session, agency_id=agency_id, delivery_id=delivery_id, for_update=False
    )
    if found is None:
        raise NotFound("delivery not found")
    return _delivery(*found)


async def retry(session: AsyncSession, *, agency_id: UUID, delivery_id: UUID) -> DeliveryOut:
    """Send a delivery again now (a failed one, or a pending one without waiting)."""
    found = await repo.get_delivery(
        session, agency_id=agency_id, delivery_id=delivery_id, for_update=False
    )
    if found is None:
        raise NotFound("delivery not found")
    # The subscription locked first, then the delivery, as deleting a subscription (its
    # deliveries go with it) takes them: the other order could deadlock with it.
    subscription = await webhooks.locked(
        session, agency_id=agency_id, subscription_id=found[0].subscription_id
    )
    _refuse_when_off(subscription)
    found = await repo.get_delivery(session, agency_id=agency_id, delivery_id=delivery_id)
    if found is None:  # gone meanwhile (purged with its old event)
        raise NotFound("delivery not found")
    delivery, event_type = found
    if delivery.status == "delivered":
        raise Conflict("the delivery already succeeded")
    if event_type not in subscription.events:
        # The relay would fail it again unsent (app/webhooks/relay.py).
        raise Conflict(
            f"the subscription no longer takes {event_type}; add it to its events first"
            f" (PATCH /v1/webhooks/{subscription.id})"
        )
    if not await repo.requeue(session, delivery):
        raise Conflict(
            "the delivery is being sent now: its outcome is in the log within seconds;"
            " retry it then if it failed"
        )
    await session.refresh(delivery)
    return _delivery(delivery, event_type)


async def retry_failed(
    session: AsyncSession, *, agency_id: UUID, subscription_id: UUID, since: datetime
) -> int:
    """Send again now every failed delivery of the subscription whose event was written at
    or after since (a receiver back from an outage), of the event types it still takes; how
    many. Those of a subscription that is off would fail again unsent: a 409, as for one
    delivery."""
    subscription = await webhooks.locked(
        session, agency_id=agency_id, subscription_id=subscription_id
    )
    _refuse_when_off(subscription)
    return await repo.requeue_failed(session, subscription_id=subscription.id, since=since)


def _refuse_when_off(subscription: WebhookSubscription) -> None:
    """A Conflict for a subscription that is off: what it is sent would fail unsent."""
    if not subscription.active:
        raise Conflict(
            "the subscription is disabled; turn it on again first (PATCH"
            f' /v1/webhooks/{subscription.id} with {{"active": true}})'
        )
