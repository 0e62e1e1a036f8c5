"""The body every listener gets for an event: a webhook delivery and a live feed message."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


def instant_text(moment: datetime) -> str:
    """An instant as every answer writes it: RFC 3339 in UTC with `Z`, as pydantic writes a
    UTC datetime in JSON (Python's isoformat writes `+00:00`)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def event_body(event_type: str, *, at: datetime, payload: Mapping[str, Any]) -> bytes:
    """`{"type", "timestamp", "data"}`: the event type, when it was written, its payload."""
    return json.dumps(
        {"type": event_type, "timestamp": instant_text(at), "data": payload},
        separators=(",", ":"),
    ).encode()
