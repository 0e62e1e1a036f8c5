from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    StrictBool,
    StringConstraints,
    field_validator,
)

from app.schemas.common import JSON_INTEGER, WORDS_CAP, Instant, PatchModel, StrictModel, worded
from app.schemas.read_only import BY_THE_SERVICE, TellsReadOnly
from app.vocabulary import DeliveryStatus, EventType

# The shape check_url_shape accepts, so the schema shows it: absolute http(s) in either
# case, a host (name, or bracketed IP literal) without credentials, a port from 1 to 65535
# (nothing is ever delivered to port 0, however many zeros spell it), no blanks, control
# characters or fragment (never sent).
# Whether the host resolves (to a public address, unless private targets are allowed) is
# checked on subscribing (app/webhooks/targets.py).
TARGET_URL = worded(
    r"^[Hh][Tt][Tt][Pp][Ss]?://(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%!$&'()*+,;=-]+)"
    r"(?::(?!0+(?![0-9]))(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?"
    r"(?:[/?][^\x00-\x1f\x7f\s#]*)?$",
    "an absolute http:// or https:// URL without credentials, blanks or a fragment",
)
_TARGET_URL = re.compile(TARGET_URL)


TargetUrl = Annotated[
    str,
    StringConstraints(min_length=8, max_length=2000),
    Field(json_schema_extra={"pattern": TARGET_URL}),
]


def _one_each(events: list[EventType]) -> list[EventType]:
    # Canonical, so that a retry naming the same events in another order is the same
    # request (an Idempotency-Key's fingerprint), and stored as it is compared.
    return sorted(set(events))


Events = Annotated[
    list[EventType], Field(min_length=1, max_length=WORDS_CAP), AfterValidator(_one_each)
]
# How long a rotated secret's predecessor still signs, by default and at most.
KEEP_PREVIOUS_DEFAULT = 86_400
KEEP_PREVIOUS_MAX = 7 * 86_400


def _url_shape(url: str | None) -> str | None:
    """The URL as given, its scheme in small letters (RFC 3986 §3.1: HTTP:// is http://),
    so that it is stored, compared and fingerprinted as one."""
    if url is None:
        return None
    # The pattern, with a message a person can read (pydantic's would show the regex).
    if not _TARGET_URL.match(url):
        raise ValueError(
            "must be an absolute http:// or https:// URL: a host name or bracketed IP"
            " address, an optional port from 1 to 65535, then a path and query without"
            " blanks or control characters; no user:password@ and no #fragment"
        )
    scheme, sep, rest = url.partition("://")
    return scheme.lower() + sep + rest


class SubscriptionCreate(StrictModel):
    """A receiver to send events to, signed per Standard Webhooks. Without `responder_id` it
    is agency-wide (a CAD); with one, it is that unit's mobile terminal."""

    url: TargetUrl
    events: Events
    # Set for a unit's mobile terminal: it then gets only events about that unit, and
    # those of the call it is on that its crew must hear (catalogue.TERMINAL_EVENTS).
    responder_id: Annotated[
        UUID | None,
        Field(
            description="The officer or co-responder whose terminal this is: it then gets"
            " the events about that unit (`unit.assigned`, `unit.released`,"
            " `unit.status_changed`), and `call.updated` and `call.escalated` of the call"
            " it is assigned to; a type it would never get is a 422"
        ),
    ] = None

    _shape = field_validator("url")(_url_shape)


_BY_ROTATION = "Set by rotating the secret (POST /v1/webhooks/{id}/secret)"


class SubscriptionPatch(PatchModel, TellsReadOnly):
    """A change to a subscription: where it sends, what it hears, whether it is on. Whose
    terminal it is does not change (that is another subscription)."""

    BODY = "a webhook subscription's PATCH"
    # Each field of SubscriptionOut the PATCH does not take (TellsReadOnly).
    READ_ONLY = {
        "responder_id": "Whose terminal a subscription serves does not change: subscribe"
        " anew (POST /v1/webhooks) and delete this one (DELETE /v1/webhooks/{id})",
        "disabled_reason": "The service's, when a receiver's answers disabled the"
        " subscription: active: true turns it on again",
        "secret": _BY_ROTATION,
        "previous_secret_until": _BY_ROTATION,
        "id": BY_THE_SERVICE,
        "created_at": BY_THE_SERVICE,
    }

    url: TargetUrl | None = None
    events: Events | None = None
    active: StrictBool | None = Field(
        default=None,
        description="false pauses it; true turns it on again, e.g. after a receiver's 410"
        " disabled it (deliveries that failed meanwhile can then be retried)",
    )

    _shape = field_validator("url")(_url_shape)


class SecretRotate(StrictModel):
    """Replace a subscription's signing secret."""

    keep_previous_seconds: Annotated[
        int,
        Field(
            ge=0,
            le=KEEP_PREVIOUS_MAX,
            description="How long the secret being replaced still signs, beside the new one"
            " (0: it stops at once, e.g. when it has leaked)",
        ),
        JSON_INTEGER,
    ] = KEEP_PREVIOUS_DEFAULT


class FailedRetry(StrictModel):
    """Which failed deliveries of a subscription to send again."""

    since: Instant = Field(
        description="Resend the subscription's failed deliveries of events written at or"
        " after this time (e.g. when the receiver went down), of the event types it"
        " still takes"
    )


class FailedRequeued(BaseModel):
    """How many failed deliveries were queued again."""

    requeued: int = Field(description="How many failed deliveries are due again now")


class SubscriptionOut(BaseModel):
    """A webhook subscription: where events are sent, which ones, and whether it is on."""

    id: UUID
    url: str
    events: list[EventType]
    responder_id: UUID | None = Field(
        description="The unit whose terminal it is; null for an agency-wide subscription"
    )
    active: bool = Field(
        description="False when paused (`PATCH` `active: false`), or turned off by the service:"
        " after a receiver's 410, or for good when its unit was deactivated"
    )
    disabled_reason: str | None = Field(
        description="Why it is off (`paused by request`, `responder deactivated` or `receiver"
        " answered 410 Gone`); null while it is on"
    )
    previous_secret_until: datetime | None = Field(
        description="While set, deliveries are signed with the secret a rotation replaced"
        " as well as the current one, until this time"
    )
    created_at: datetime


class SubscriptionCreated(SubscriptionOut):
    """The new subscription, with its signing secret."""

    secret: str = Field(
        description="The whsec_… signing secret. It is shown only here, once (and to a retry"
        " with the same Idempotency-Key: the secret that signs then)."
    )


class SecretRotated(BaseModel):
    """The subscription's new signing secret."""

    id: UUID
    secret: str = Field(description="The new whsec_… signing secret. It is shown only here, once.")
    previous_secret_until: datetime | None = Field(
        description="Until when the replaced secret still signs, beside this one (null: no longer)"
    )


class DeliveryOut(BaseModel):
    """One event's delivery to one subscription, and how its attempts went."""

    id: UUID = Field(description="The delivery's id: the `webhook-id` header it is sent with")
    subscription_id: UUID
    event_id: UUID = Field(
        description="The event's id: the live feed's `id:` for the event carries it after"
        " the dot (`48215.<event_id>`)"
    )
    event_type: EventType
    status: DeliveryStatus = Field(
        description="`pending` while attempts remain, `delivered`, or `failed`: after the last"
        " attempt, or unsent when its subscription went off, stopped taking its event type"
        " or its address was refused"
    )
    attempts: int = Field(description="Attempts made so far")
    next_attempt_at: datetime | None = Field(
        description="When the next attempt is due (or was, if it is being sent now); null"
        " once the delivery is delivered or failed: no attempt follows"
    )
    last_attempt_at: datetime | None
    last_status_code: int | None = Field(
        description="The HTTP status of the last answer; null when none came"
    )
    last_error: str | None = Field(
        description="What went wrong last: at an attempt, or why it failed unsent"
        " (`subscription disabled`); null once delivered"
    )
    delivered_at: datetime | None
    created_at: datetime
