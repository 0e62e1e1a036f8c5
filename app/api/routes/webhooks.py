from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Response

from app.api.deps import Paging, State, UnitOfWork, require
from app.api.permissions import Permission
from app.api.problems import problems
from app.schemas.common import Page
from app.schemas.webhooks import (
    DeliveryOut,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionOut,
)
from app.security import Principal
from app.services import webhooks as service

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
Manager = Annotated[Principal, Depends(require(Permission.MANAGE_WEBHOOKS))]


@router.post("", status_code=201, responses=problems(401, 403, 413, 422, 503))
async def subscribe(
    body: SubscriptionCreate, who: Manager, session: UnitOfWork, state: State
) -> SubscriptionCreated:
    """Subscribe a receiver to events, signed with Standard Webhooks. With `responder_id`
    it is that unit's terminal and gets only events about that unit. The secret is shown
    only in this answer. Loopback, private and metadata addresses are refused."""
    return await service.subscribe(session, state.settings, agency_id=who.agency_id, body=body)


@router.get("", responses=problems(401, 403, 422, 503))
async def list_subscriptions(
    who: Manager, session: UnitOfWork, page: Paging
) -> Page[SubscriptionOut]:
    items, cursor = await service.list_page(
        session, agency_id=who.agency_id, limit=page.limit, cursor=page.cursor
    )
    return Page(items=items, next_cursor=cursor)


@router.delete("/{subscription_id}", status_code=204, responses=problems(401, 403, 404, 422, 503))
async def unsubscribe(subscription_id: UUID, who: Manager, session: UnitOfWork) -> Response:
    await service.unsubscribe(session, agency_id=who.agency_id, subscription_id=subscription_id)
    return Response(status_code=204)


@router.get("/{subscription_id}/deliveries", responses=problems(401, 403, 404, 422, 503))
async def list_deliveries(
    subscription_id: UUID, who: Manager, session: UnitOfWork, page: Paging
) -> Page[DeliveryOut]:
    """Every delivery to this subscription, newest first, with its attempts and outcome."""
    items, cursor = await service.deliveries(
        session,
        agency_id=who.agency_id,
        subscription_id=subscription_id,
        limit=page.limit,
        cursor=page.cursor,
    )
    return Page(items=items, next_cursor=cursor)


@router.post("/deliveries/{delivery_id}/retry", responses=problems(401, 403, 404, 409, 422, 503))
async def retry_delivery(delivery_id: UUID, who: Manager, session: UnitOfWork) -> DeliveryOut:
    """Queue a failed (or waiting) delivery to be sent again now."""
    return await service.retry(session, agency_id=who.agency_id, delivery_id=delivery_id)
