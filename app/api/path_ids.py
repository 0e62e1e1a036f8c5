"""What a 422 says of a call's id in a path that is no id: a console that put the CAD's
number there (`GET /v1/calls/CAD-101`) was told only where it stopped being a UUID, not how
to find the call by that number."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The value itself is not repeated: a 422 never echoes what was sent (docs/api.md, "Errors").
_BY_THE_CADS_NUMBER = (
    "A call is named by its id in the path; to find one by the CAD's number (its"
    " external_id), use GET /v1/calls?external_id= followed by that number"
)


def told(error: Mapping[str, Any], message: str) -> str:
    """message, with how to find a call by the CAD's number when error is of a call's id in
    the path that is no UUID."""
    kind = str(error.get("type") or "")
    if tuple(error.get("loc") or ()) == ("path", "call_id") and kind.startswith("uuid"):
        return f"{message}. {_BY_THE_CADS_NUMBER}"
    return message
