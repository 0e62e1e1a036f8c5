from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from app.api.deps import Audit, Caller, Paging, ReadSession, Session, State
from app.api.problems import problems
from app.api.strict_json import StrictJSONRoute
from app.schemas.common import Page
from app.schemas.webhooks import (
    DeliveryOut,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionOut,
)
from app.services import webhooks as service

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], route_class=StrictJSONRoute)


@router.post("", status_code=201, responses=problems(401, 403, 413, 422, 503))
async def subscribe(
    body: SubscriptionCreate, who: Caller, session: Session, state: State, audit: Audit
) -> SubscriptionCreated:
    """Subscribe a receiver to events, signed with Standard Webhooks. With `responder_id`
    it is that unit's terminal and gets only events about that unit. The secret is shown
    only in this answer. Loopback, private and metadata addresses are refused."""
    out = await service.subscribe(
        session, state.settings, cipher=state.cipher, agency_id=who.agency_id, body=body
    )
    audit.identify(out.id, {"url": str(out.url)})
    return out


@router.get("", responses=problems(401, 403, 422, 503))
async def list_subscriptions(
    who: Caller, session: ReadSession, page: Paging
) -> Page[SubscriptionOut]:
    items, cursor = await service.list_page(
        session, agency_id=who.agency_id, limit=page.limit, cursor=page.cursor
    )
    return Page(items=items, next_cursor=cursor)


@router.delete("/{subscription_id}", status_code=204, responses=problems(401, 403, 404, 422, 503))
async def unsubscribe(subscription_id: UUID, who: Caller, session: Session) -> Response:
    await service.unsubscribe(session, agency_id=who.agency_id, subscription_id=subscription_id)
    return Response(status_code=204)


@router.get("/{subscription_id}/deliveries", responses=problems(401, 403, 404, 422, 503))
async def list_deliveries(
    subscription_id: UUID, who: Caller, session: ReadSession, page: Paging
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
async def retry_delivery(delivery_id: UUID, who: Caller, session: Session) -> DeliveryOut:
    """Queue a failed (or waiting) delivery to be sent again now."""
    return await service.retry(session, agency_id=who.agency_id, delivery_id=delivery_id)
