from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from app.api.deps import (
    Audit,
    Caller,
    IdempotencyKey,
    Located,
    Paging,
    ReadSession,
    Session,
    State,
    Work,
    replayed,
)
from app.api.openapi import created, replays
from app.api.problems import problems
from app.api.strict_json import StrictJSONRoute
from app.schemas.common import Page
from app.schemas.webhooks import (
    DeliveryOut,
    FailedRequeued,
    FailedRetry,
    SecretRotate,
    SecretRotated,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionOut,
    SubscriptionPatch,
)
from app.services import idempotency
from app.services import webhook_deliveries as delivery_log
from app.services import webhooks as service
from app.services.idempotency import Replay
from app.vocabulary import DeliveryStatus

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], route_class=StrictJSONRoute)


def _looking_up(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """problems(*statuses) of a route that looks a URL's host up: its 503 says so too."""
    responses = problems(*statuses)
    responses[503] = {
        **responses[503],
        "description": "Database unavailable, the request undone by a concurrent one, this"
        " instance busy or stopping, or the URL's host not looked up: the resolver did not"
        " answer within 5 s, or failed for now (Retry-After)",
    }
    return responses


_SUBSCRIBE_CONFLICT = (
    "A request with this Idempotency-Key is still running (type …/request-in-progress, with"
    " Retry-After: retry then); or the subscription it made has been deleted since, or its"
    " secret replaced (a rotation: a secret is shown once), or no key of CIT_DATA_KEY"
    " decrypts its secret"
)


@router.post(
    "",
    summary="Subscribe a receiver to events",
    status_code=201,
    response_model=SubscriptionCreated,
    responses={
        **_looking_up(401, 403, 413, 422, 503),
        409: {**problems(409)[409], "description": _SUBSCRIBE_CONFLICT},
        **created(),
    },
    # The answer stored under a key: the subscription made (a failure releases the key).
    openapi_extra=replays(201),
)
async def subscribe(
    body: SubscriptionCreate,
    who: Caller,
    work: Work,
    state: State,
    audit: Audit,
    located: Located,
    idempotency_key: IdempotencyKey = None,
) -> SubscriptionCreated | JSONResponse:
    """Subscribe a receiver to events, signed with Standard Webhooks. With `responder_id`
    it is that unit's terminal and gets only events about that unit. The secret is shown
    only in this answer. Loopback, private and metadata addresses are refused.

    With an `Idempotency-Key`, a retry of the same request (its answer lost) makes no
    second subscription, which would send every event twice: it answers the first answer
    again, secret included, while that secret is still the subscription's; the same key
    with another body is a 422; a retry while the first is still running is a 409 of type
    `…/request-in-progress`, with `Retry-After`. A retry after the secret was rotated, or
    the subscription deleted, is a 409."""
    if idempotency_key is not None:
        # Claimed before the request's own transaction begins (as for a call): the claim
        # takes a connection of its own for a moment, and this one would be held meanwhile.
        print_ = idempotency.fingerprint("POST", "/v1/webhooks", body)
        replay = await idempotency.begin(state, work, key=idempotency_key, fingerprint=print_)
        if replay is not None:
            again = await service.subscribed_again(
                await work.session(), cipher=state.cipher, agency_id=who.agency_id, replay=replay
            )
            audit.identify(again.id, {"url": str(again.url), "replayed": True})
            answer = Replay(replay.status, again.model_dump(mode="json"))
            return replayed(answer, located, f"/v1/webhooks/{again.id}")
    out = await service.subscribe(
        work,
        state.settings,
        cipher=state.cipher,
        agency_id=who.agency_id,
        body=body,
    )
    if idempotency_key is not None:
        # Stored in the subscription's own transaction, without its secret: both commit,
        # or neither.
        await idempotency.complete(
            work, key=idempotency_key, status=201, body=service.stored_answer(out)
        )
    audit.identify(out.id, {"url": str(out.url)})
    located.at(f"/v1/webhooks/{out.id}")
    return out


@router.get("", summary="List webhook subscriptions", responses=problems(401, 403, 422, 503))
async def list_subscriptions(
    who: Caller, session: ReadSession, page: Paging
) -> Page[SubscriptionOut]:
    items, cursor = await service.list_page(
        session,
        agency_id=who.agency_id,
        limit=page.limit,
        cursor=page.cursor,
        now=datetime.now(UTC),
    )
    return Page(items=items, next_cursor=cursor)


@router.get(
    "/{subscription_id}",
    summary="Get a webhook subscription",
    responses=problems(401, 403, 404, 422, 503),
)
async def read_subscription(
    subscription_id: UUID, who: Caller, session: ReadSession
) -> SubscriptionOut:
    return await service.read(
        session, agency_id=who.agency_id, subscription_id=subscription_id, now=datetime.now(UTC)
    )


@router.patch(
    "/{subscription_id}",
    summary="Change a webhook subscription",
    responses=_looking_up(401, 403, 404, 409, 413, 422, 503),
)
async def update_subscription(
    subscription_id: UUID,
    body: SubscriptionPatch,
    who: Caller,
    work: Work,
    state: State,
    audit: Audit,
) -> SubscriptionOut:
    """Change where a subscription sends (checked as on subscribing), what it hears, or
    whether it is on. `{"active": true}` turns on one a receiver's 410 turned off, or one
    paused with `false`; a terminal's, only while its responder is active, and never one
    its unit's deactivation turned off (409). Deliveries that failed while it was off are
    not resent unless retried."""
    out, detail = await service.update(
        state,
        work,
        agency_id=who.agency_id,
        subscription_id=subscription_id,
        body=body,
        now=datetime.now(UTC),
    )
    audit.identify(subscription_id, detail)
    return out


@router.post(
    "/{subscription_id}/secret",
    summary="Rotate a subscription's signing secret",
    responses=problems(401, 403, 404, 413, 422, 503),
)
async def rotate_secret(
    subscription_id: UUID,
    who: Caller,
    session: Session,
    state: State,
    audit: Audit,
    body: SecretRotate | None = None,
) -> SecretRotated:
    """A new signing secret, shown only in this answer. The secret it replaces still signs
    each delivery beside it (two signatures in `webhook-signature`) for
    `keep_previous_seconds` (a day unless given; 0 for a leaked secret), so a receiver can
    move over without refusing a delivery. During that overlap another rotation replaces
    only the new secret: a retried request does not cut off receivers on the old one."""
    out = await service.rotate_secret(
        session,
        cipher=state.cipher,
        agency_id=who.agency_id,
        subscription_id=subscription_id,
        body=body or SecretRotate(),
        now=datetime.now(UTC),
    )
    until = out.previous_secret_until
    audit.identify(subscription_id, {"previous_secret_until": until and until.isoformat()})
    return out


@router.delete(
    "/{subscription_id}",
    summary="Delete a webhook subscription",
    status_code=204,
    responses=problems(401, 403, 404, 422, 503),
)
async def unsubscribe(subscription_id: UUID, who: Caller, session: Session) -> Response:
    await service.unsubscribe(session, agency_id=who.agency_id, subscription_id=subscription_id)
    return Response(status_code=204)


@router.get(
    "/{subscription_id}/deliveries",
    summary="List a subscription's deliveries",
    responses=problems(401, 403, 404, 422, 503),
)
async def list_deliveries(
    subscription_id: UUID,
    who: Caller,
    session: ReadSession,
    page: Paging,
    status: Annotated[
        DeliveryStatus | None,
        Query(description="Only the deliveries with this status (e.g. `failed`, after an outage)"),
    ] = None,
) -> Page[DeliveryOut]:
    """Every delivery to this subscription (or those with `status`), newest first, with its
    attempts and outcome."""
    items, cursor = await delivery_log.deliveries(
        session,
        agency_id=who.agency_id,
        subscription_id=subscription_id,
        status=status,
        limit=page.limit,
        cursor=page.cursor,
    )
    return Page(items=items, next_cursor=cursor)


@router.post(
    "/{subscription_id}/deliveries/retry",
    summary="Resend a subscription's failed deliveries",
    responses=problems(401, 403, 404, 409, 413, 422, 503),
)
async def retry_failed_deliveries(
    subscription_id: UUID, body: FailedRetry, who: Caller, session: Session, audit: Audit
) -> FailedRequeued:
    """Send again now every failed delivery of this subscription whose event was written at
    or after `since`, of the event types it still takes: a receiver back from an outage
    gets what it missed, in one request. A subscription that is off is a 409 (turn it on
    first)."""
    requeued = await delivery_log.retry_failed(
        session, agency_id=who.agency_id, subscription_id=subscription_id, since=body.since
    )
    audit.identify(subscription_id, {"since": body.since.isoformat(), "requeued": requeued})
    return FailedRequeued(requeued=requeued)


@router.get(
    "/deliveries/{delivery_id}",
    summary="Get a webhook delivery",
    responses=problems(401, 403, 404, 422, 503),
)
async def read_delivery(delivery_id: UUID, who: Caller, session: ReadSession) -> DeliveryOut:
    """One delivery, by its id: the `webhook-id` header it was sent with."""
    return await delivery_log.delivery(session, agency_id=who.agency_id, delivery_id=delivery_id)


@router.post(
    "/deliveries/{delivery_id}/retry",
    summary="Resend a webhook delivery",
    responses=problems(401, 403, 404, 409, 422, 503),
)
async def retry_delivery(delivery_id: UUID, who: Caller, session: Session) -> DeliveryOut:
    """Queue a failed (or waiting) delivery to be sent again now."""
    return await delivery_log.retry(session, agency_id=who.agency_id, delivery_id=delivery_id)
