"""The body every listener gets for an event: a webhook delivery and a live feed message."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any


def event_body(event_type: str, *, at: datetime, payload: Mapping[str, Any]) -> bytes:
    """`{"type", "timestamp", "data"}`: the event type, when it was written, its payload."""
    return json.dumps(
        {"type": event_type, "timestamp": at.isoformat(), "data": payload},
        separators=(",", ":"),
    ).encode()
