from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, Field, StringConstraints, field_validator

from app.schemas.common import WORDS_CAP, StrictModel
from app.vocabulary import DeliveryStatus, EventType

# The shape check_url_shape accepts, so the schema shows it: absolute http(s) in either
# case, a host (name, or bracketed IP literal) without credentials, a port up to 65535, no
# blanks, control characters or fragment (never sent).
# Whether the host resolves to a public address is checked on subscribing.
TARGET_URL = (
    r"^[Hh][Tt][Tt][Pp][Ss]?://(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%!$&'()*+,;=-]+)"
    r"(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?"
    r"(?:[/?][^\x00-\x1f\x7f\s#]*)?$"
)
_TARGET_URL = re.compile(TARGET_URL)


class SubscriptionCreate(StrictModel):
    url: Annotated[
        str,
        StringConstraints(min_length=8, max_length=2000),
        Field(json_schema_extra={"pattern": TARGET_URL}),
    ]
    events: Annotated[list[EventType], Field(min_length=1, max_length=WORDS_CAP)]
    # Set for a unit's mobile terminal: it then gets only events about that unit.
    responder_id: UUID | None = None

    @field_validator("url")
    @classmethod
    def _shape(cls, url: str) -> str:
        # The pattern, with a message a person can read (pydantic's would show the regex).
        if not _TARGET_URL.match(url):
            raise ValueError(
                "must be an absolute http:// or https:// URL: a host name or bracketed IP"
                " address, an optional port up to 65535, then a path and query without"
                " blanks or control characters; no user:password@ and no #fragment"
            )
        return url


class SubscriptionOut(BaseModel):
    id: UUID
    url: str
    events: list[EventType]
    responder_id: UUID | None
    active: bool
    disabled_reason: str | None
    created_at: datetime


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(description="The whsec_… signing secret. It is shown only here, once.")


class DeliveryOut(BaseModel):
    id: UUID
    event_id: UUID
    event_type: EventType
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
