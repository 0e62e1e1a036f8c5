"""The live feed's ticket, as the API shows it."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class StreamTicketOut(BaseModel):
    ticket: str = Field(
        description="Opens one stream: `GET /v1/stream?ticket=…`, without an Authorization "
        "header. Shown only in this answer, stored only as a hash."
    )
    expires_at: datetime = Field(description="Unused by then, the ticket no longer opens one")
    expires_in: int = Field(description="Seconds from now until expires_at")
