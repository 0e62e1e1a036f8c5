"""The live feed's ticket, as the API shows it."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class StreamTicketOut(BaseModel):
    """A stream ticket: a short-lived, single-use pass that opens one live feed as the key
    that asked for it, without an Authorization header, for a web page's `EventSource`.
    Ask for it from the page's own back end, so the key never reaches the browser."""

    ticket: str = Field(
        description="Opens one stream: `GET /v1/stream?ticket=…`, without an Authorization "
        "header. Shown only in this answer, stored only as a hash."
    )
    expires_at: datetime = Field(description="Unused by then, the ticket no longer opens one")
    expires_in: int = Field(description="Seconds from now until expires_at")
