"""What POST /v1/eido answers."""

from __future__ import annotations

from pydantic import Field

from app.schemas.calls import CallOut


class EidoImportOut(CallOut):
    """The incident's call as it stands; applied is false when the document was not newer
    than the last one applied to the call, and so changed nothing."""

    applied: bool = Field(
        description="Whether the document changed the call: false when it was not newer than"
        " the last one applied"
    )
