"""What POST /v1/eido answers."""

from __future__ import annotations

from pydantic import Field

from app.schemas.call_answers import CallOut


class EidoImportOut(CallOut):
    """The incident's call as it stands, and whether the document was applied to it (false:
    it changed nothing)."""

    applied: bool = Field(
        description="Whether the document was applied to the call: false when it was not newer"
        " than the last one applied, when it is the call's own export echoed back, and when"
        " it tells a cleared call nothing it does not hold"
    )
