"""Webhook subscriptions: make, read, change, rotate the secret, delete (their delivery
log is app/services/webhook_deliveries.py)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from app import metrics
from app.db.unit_of_work import UnitOfWork, of_session
from app.encryption import (
    SUBSCRIPTION_PREVIOUS_SECRET,
    SUBSCRIPTION_SECRET,
    DataCipher,
    UndecryptableValue,
)
from app.errors import Conflict, Invalid, NotFound, ServiceUnavailable
from app.events.catalogue import unheard_by_a_terminal
from app.ids import new_id
from app.models import WebhookSubscription
from app.repositories import roster as roster_repo
from app.repositories import webhooks as repo
from app.repositories.pagination import fetch_page
from app.schemas.webhooks import (
    SecretRotate,
    SecretRotated,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionOut,
    SubscriptionPatch,
)
from app.services.idempotency import Replay
from app.settings import Settings
from app.state import AppState
from app.webhooks.signing import new_secret
from app.webhooks.targets import ResolverUnavailable, TargetRefused, check_target

log = logging.getLogger(__name__)


async def subscribe(
    work: UnitOfWork,
    settings: Settings,
    *,
    cipher: DataCipher,
    agency_id: UUID,
    body: SubscriptionCreate,
) -> SubscriptionCreated:
    # Looked up before work's transaction begins: no pooled connection is held for as
    # long as the resolver takes (up to targets.LOOKUP_SECONDS).
    await _check_target(body.url, settings)
    session = await work.session()
    await _check_terminal(session, agency_id, body.responder_id, body.events)
    # The id is chosen here so the stored secret can be bound to its row.
    subscription_id, secret = new_id(), new_secret()
    row = WebhookSubscription(
        id=subscription_id,
        agency_id=agency_id,
        url=body.url,
        events=body.events,
        responder_id=body.responder_id,
        secret=cipher.encrypt(secret, column=SUBSCRIPTION_SECRET, row_id=subscription_id),
    )
    session.add(row)
    await session.flush()
    await session.refresh(row)
    return SubscriptionCreated(**_out(row, datetime.now(UTC)).model_dump(), secret=secret)


# The stored answer's stand-in for the secret: its SHA-256, which tells whether the
# subscription still signs with the secret first shown (of 32 random bytes: no secret is
# learnt from it).
_SECRET_DIGEST = "secret_sha256"  # noqa: S105 (a key of the stored answer)


def stored_answer(out: SubscriptionCreated) -> dict[str, Any]:
    """What an Idempotency-Key keeps of a subscribe's answer: all but the secret, which is
    kept encrypted in the subscription's row alone, and stood for by its digest."""
    return {**out.model_dump(mode="json", exclude={"secret"}), _SECRET_DIGEST: _digest(out.secret)}


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def subscribed_again(
    session: AsyncSession, *, cipher: DataCipher, agency_id: UUID, replay: Replay
) -> SubscriptionCreated:
    """The answer to a retried subscribe: the first answer, secret included, while the
    subscription still signs with that secret (the retry's client never saw it). A
    Conflict once it was rotated (shown once: a replay must not show a secret that
    replaced a leaked one), once the subscription is deleted, or when no key of
    CIT_DATA_KEY decrypts its secret."""
    stored = SubscriptionOut.model_validate(replay.body)
    row = await repo.get_subscription(session, agency_id=agency_id, subscription_id=stored.id)
    if row is None:
        raise Conflict(
            f"the subscription this Idempotency-Key made ({stored.id}) has been deleted since;"
            " subscribe again with a new key"
        )
    try:
        secret = cipher.decrypt(row.secret, column=SUBSCRIPTION_SECRET, row_id=row.id)
    except UndecryptableValue:
        secret = None
    if secret is None or _digest(secret) != replay.body.get(_SECRET_DIGEST):
        rotate = f"POST /v1/webhooks/{row.id}/secret"
        raise Conflict(
            f"the secret of the subscription this Idempotency-Key made ({row.id}) was replaced"
            f" since (a rotation), or no key of CIT_DATA_KEY decrypts it, and a secret is"
            f" shown once: give it a new one ({rotate})"
        )
    return SubscriptionCreated(**stored.model_dump(), secret=secret)


async def _check_if_new(
    state: AppState, *, agency_id: UUID, subscription_id: UUID, url: str
) -> bool:
    """Look url up unless it is already the subscription's; whether it was looked up. The
    URL held is read in a moment's transaction of its own, so that the request's own
    transaction, and its pooled connection, is not held for as long as the resolver takes
    (up to targets.LOOKUP_SECONDS)."""
    async with state.unit_of_work(agency_id, read_only=True) as peek:
        row = await get(await peek.session(), agency_id=agency_id, subscription_id=subscription_id)
    if url == row.url:
        return False
    await _check_target(url, state.settings)
    return True


async def _check_target(url: str, settings: Settings) -> None:
    try:
        await check_target(url, allow_private=settings.webhook_allow_private_targets)
    except TargetRefused as exc:
        raise Invalid(f"webhook URL refused: {exc}", loc=("body", "url")) from None
    except ResolverUnavailable as exc:
        # Whether the name leads anywhere is not known: not the client's error to fix.
        raise ServiceUnavailable(
            f"webhook URL not checked: {exc}; nothing was changed: try again", retry_after=5
        ) from None


async def _check_terminal(
    session: AsyncSession, agency_id: UUID, responder_id: UUID | None, events: Iterable[str]
) -> None:
    """A terminal's subscription is for an active responder, and for what a terminal hears."""
    if responder_id is None:
        return
    # Locked FOR SHARE, so a deactivation at the same moment (which disables its
    # terminal's subscriptions) comes wholly before or after this one, as for a unit key.
    if not await roster_repo.responder_kind(
        session, agency_id=agency_id, responder_id=responder_id
    ):
        raise Invalid(
            "responder_id is not an active officer or co-responder of this agency",
            loc=("body", "responder_id"),
        )
    _check_terminal_events(events)


def _check_terminal_events(events: Iterable[str]) -> None:
    unheard = unheard_by_a_terminal(events)
    if unheard is not None:
        raise Invalid(
            f"{unheard}: leave them out, or subscribe agency-wide (no responder_id)",
            loc=("body", "events"),
        )


def _out(row: WebhookSubscription, now: datetime) -> SubscriptionOut:
    out = SubscriptionOut.model_validate(row, from_attributes=True)
    until = out.previous_secret_until
    if until is not None and until <= now:
        out.previous_secret_until = None  # the replaced secret signs no more
    return out


async def read(
    session: AsyncSession, *, agency_id: UUID, subscription_id: UUID, now: datetime
) -> SubscriptionOut:
    return _out(await get(session, agency_id=agency_id, subscription_id=subscription_id), now)


async def update(
    state: AppState,
    work: UnitOfWork,
    *,
    agency_id: UUID,
    subscription_id: UUID,
    body: SubscriptionPatch,
    now: datetime,
) -> tuple[SubscriptionOut, dict[str, Any]]:
    """Change where a subscription sends, what it hears, or whether it is on; the trail's
    detail: the fields changed, before and after, and how many pending deliveries failed
    (failed_deliveries, when any did)."""
    # Only a new URL is checked: a client that sends the whole object back keeps a
    # subscription made under older rules (an http:// one) editable.
    checked = body.url is not None and await _check_if_new(
        state, agency_id=agency_id, subscription_id=subscription_id, url=body.url
    )
    session = await work.session()
    # Whose terminal it is never changes: read before anything is locked.
    found = await get(session, agency_id=agency_id, subscription_id=subscription_id)
    if body.url is not None and body.url != found.url and not checked:
        # Another change of its URL came in between: looked up now, no lock taken yet.
        await _check_target(body.url, state.settings)
    if found.responder_id is not None:
        if body.events is not None:
            _check_terminal_events(body.events)
        # A terminal is on only for a responder still active: locked FOR SHARE before the
        # subscription, as a deactivation locks it before it disables the subscriptions.
        if body.active is True and not await roster_repo.responder_kind(
            session, agency_id=agency_id, responder_id=found.responder_id
        ):
            raise Conflict(
                "this terminal's responder is no longer an active officer or co-responder"
                " of this agency: its subscription stays off"
            )
    row = await locked(session, agency_id=agency_id, subscription_id=subscription_id)
    if body.active is True and row.disabled_reason == repo.RETIRED:
        raise Conflict(
            "this terminal's subscription was turned off for good when its responder was"
            " deactivated: subscribe anew (as a unit reactivated gets new keys)"
        )
    wanted: dict[str, Any] = {}
    if body.url is not None:
        wanted["url"] = body.url
    if body.events is not None:
        wanted["events"] = body.events
    if body.active is not None:
        wanted["active"] = body.active
    changed = {
        name: {"from": getattr(row, name), "to": value}
        for name, value in wanted.items()
        if getattr(row, name) != value
    }
    for name, change in changed.items():
        setattr(row, name, change["to"])
    if "active" in changed:
        row.disabled_reason = None if row.active else "paused by request"
    if changed:
        await session.flush()
    failed: dict[UUID, int] = {}
    if not row.active and "active" in changed:
        failed = await fail_pending(session, [row.id])
    elif "events" in changed:
        dropped = set(changed["events"]["from"]) - set(changed["events"]["to"])
        if dropped:
            failed = await fail_pending(session, [row.id], types=sorted(dropped))
    detail: dict[str, Any] = {"changed": changed}
    if failed:
        detail["failed_deliveries"] = failed[row.id]
    return _out(row, now), detail


async def fail_pending(
    session: AsyncSession, subscription_ids: Iterable[UUID], *, types: list[str] | None = None
) -> dict[UUID, int]:
    """Fail the pending deliveries of subscriptions turned off (or of the event types one
    no longer hears) as they change, no attempt counted (docs/api.md, "Changing a
    subscription"): left pending, they were sent after all if it was turned back on before
    their next attempt. How many each subscription had (those that had any)."""
    failed = {}
    counted = 0
    for subscription_id in subscription_ids:
        result = await repo.fail_pending(session, subscription_id=subscription_id, types=types)
        if result.total:
            failed[subscription_id] = result.total
        # One whose attempt is under way is counted by the relay when the attempt ends
        # (delivered after all, or failed): counted here too, it would be counted twice.
        counted += result.total - result.under_way
    if counted:
        of_session(session).after_commit(lambda: metrics.count_webhooks("failed", counted))
    return failed


async def rotate_secret(
    session: AsyncSession,
    *,
    cipher: DataCipher,
    agency_id: UUID,
    subscription_id: UUID,
    body: SecretRotate,
    now: datetime,
) -> SecretRotated:
    """A new signing secret. The one it replaces still signs beside it for a while, so a
    receiver can move over without refusing a delivery. During that overlap, another
    rotation replaces only the new secret; keep_previous_seconds 0 ends the overlap."""
    row = await locked(session, agency_id=agency_id, subscription_id=subscription_id)
    secret = new_secret()
    keep = timedelta(seconds=body.keep_previous_seconds)
    overlap = row.previous_secret_until is not None and row.previous_secret_until > now
    if keep and overlap:
        # A rotation's overlap is under way: the secret being phased out stays, and only
        # the new one, perhaps never seen (a retried request), is replaced. Dropping the
        # old one would cut off every receiver not yet moved.
        row.previous_secret_until = now + keep
    elif keep and (current := _decrypted_secret(cipher, row)) is not None:
        row.previous_secret = cipher.encrypt(
            current, column=SUBSCRIPTION_PREVIOUS_SECRET, row_id=row.id
        )
        row.previous_secret_until = now + keep
    else:
        row.previous_secret = row.previous_secret_until = None
    row.secret = cipher.encrypt(secret, column=SUBSCRIPTION_SECRET, row_id=row.id)
    await session.flush()
    return SecretRotated(id=row.id, secret=secret, previous_secret_until=row.previous_secret_until)


async def locked(
    session: AsyncSession, *, agency_id: UUID, subscription_id: UUID
) -> WebhookSubscription:
    """The agency's subscription, locked until the transaction ends: a change that turns it
    off (a PATCH, a deactivation, the relay's 410) waits for what is decided on it here."""
    row = await repo.get_subscription(
        session, agency_id=agency_id, subscription_id=subscription_id, for_update=True
    )
    if row is None:
        raise NotFound("webhook subscription not found")
    return row


async def get(
    session: AsyncSession, *, agency_id: UUID, subscription_id: UUID
) -> WebhookSubscription:
    row = await repo.get_subscription(session, agency_id=agency_id, subscription_id=subscription_id)
    if row is None:
        raise NotFound("webhook subscription not found")
    return row


async def list_page(
    session: AsyncSession, *, agency_id: UUID, limit: int, cursor: str | None, now: datetime
) -> tuple[list[SubscriptionOut], str | None]:
    rows, next_cursor = await fetch_page(
        session,
        repo.subscriptions_statement(agency_id),
        WebhookSubscription.id,
        limit=limit,
        cursor=cursor,
    )
    return [_out(r, now) for r in rows], next_cursor


async def unsubscribe(session: AsyncSession, *, agency_id: UUID, subscription_id: UUID) -> None:
    """Delete the subscription; its pending deliveries go with it."""
    await session.delete(await get(session, agency_id=agency_id, subscription_id=subscription_id))
    await session.flush()


def _decrypted_secret(cipher: DataCipher, row: WebhookSubscription) -> str | None:
    """The subscription's secret; None if no key of CIT_DATA_KEY decrypts it (it then
    signs nothing, and is replaced at once, with no overlap)."""
    try:
        return cipher.decrypt(row.secret, column=SUBSCRIPTION_SECRET, row_id=row.id)
    except UndecryptableValue:
        log.warning(
            "a rotated webhook secret could not be decrypted; it is replaced at once",
            extra={"subscription_id": str(row.id)},
        )
        return None
