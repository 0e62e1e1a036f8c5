"""API keys and the audit trail, as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, Field

from app.schemas.common import Instant, Name, StrictModel
from app.vocabulary import AuditOutcome, ResponderType, Role


class ApiKeyCreate(StrictModel):
    """A new API key of the agency, with exactly one role."""

    role: Annotated[Role, Field(description="What the key may do")]
    name: Annotated[Name | None, Field(description="A name to tell the key by in lists")] = None
    # Required for the unit role, and only for it: the officer or co-responder it acts as.
    responder_id: Annotated[
        UUID | None,
        Field(
            description="Required for the unit role, and only for it: the active officer or"
            " co-responder whose terminal the key is"
        ),
    ] = None
    expires_at: Annotated[
        Instant | None,
        Field(description="When the key stops working, in the future; left out, it never does"),
    ] = None


class ApiKeyOut(BaseModel):
    """An API key of the agency, revoked and expired ones included; never the key itself."""

    id: UUID
    prefix: str = Field(
        description="The key's public 8-character prefix (cit_<prefix>_…), which names it in"
        " lists and the audit trail"
    )
    role: Role
    name: str | None
    responder_type: ResponderType | None = Field(
        description="For a unit key, the kind of its responder; null for other roles"
    )
    responder_id: UUID | None = Field(
        description="For a unit key, the officer or co-responder it acts for; null for other roles"
    )
    created_at: datetime
    expires_at: datetime | None = Field(description="When it stops working; null: never")
    revoked_at: datetime | None = Field(
        description="When it was revoked (DELETE, or its responder's deactivation, for good);"
        " null while it is not"
    )


class ApiKeyCreated(ApiKeyOut):
    """A key just made, with the key itself: shown only in this answer, and stored only as
    a hash."""

    # The key itself: shown only in this answer, stored only as a hash.
    key: str = Field(
        description="The key, cit_<prefix>_<secret>, sent as Authorization: Bearer <key>"
    )


class AuditEntryOut(BaseModel):
    """An entry of the agency's append-only audit trail."""

    id: UUID
    at: datetime = Field(description="When it was recorded")
    key_id: UUID | None = Field(
        description="The key that made the request, or whose prefix a failed authentication"
        " presented; null for what the service did without a key (a command run on the"
        " server, the webhook relay, the EIDO subscriber)"
    )
    role: str | None = Field(
        description="The key's role; cli for a command run on the server, relay for the"
        " webhook relay, integration for the EIDO subscriber (no key); null for a failed"
        " authentication"
    )
    action: str = Field(
        description="What was done, as <resource>.<verb>: call.create, policy.update, auth.failed"
    )
    resource_type: str | None = Field(description="The kind of object acted on")
    resource_id: str | None = Field(
        description="The id of the object acted on, as text (for a denied request, the"
        " path's id); null when there is none"
    )
    outcome: AuditOutcome = Field(
        description="success; denied (the role may not, or authentication failed); error"
        " (the request failed)"
    )
    request_id: str | None = Field(
        description="The request's X-Request-ID; null for what no request did"
    )
    detail: dict[str, Any] | None = Field(
        description="Context, such as a dispatch's override reason, or each field an update"
        " changed, from and to; never a call's notes"
    )


class AgencyOut(BaseModel):
    """The agency a key belongs to."""

    id: UUID
    name: str
    timezone: str = Field(
        description="Its IANA time zone: the day a certification is valid on, and the"
        " reports' days and hours"
    )
    ori: str | None = Field(description="Its ORI (9 characters), if it was given one")
    created_at: datetime
