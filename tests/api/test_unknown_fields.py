"""What a 422 says of a field an object does not have when the path to that object holds a
name the client wrote: a mapping's key.

No route's body holds a mapping of objects yet, so this asks the module what it tells of
such a body (a roster of units by call sign) directly, as the 422 handler does."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import Request

from app.api import unknown_fields


class _Unit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    call_sign: str


class _Roster(BaseModel):
    model_config = ConfigDict(extra="forbid")
    units: dict[str, _Unit]


def _told(key: str) -> str | None:
    """The message for a unit under key in a body of _Roster with a misspelt field."""
    body = {"units": {key: {"call_sign": "1A1", "calsign": "1A1"}}}
    with pytest.raises(ValidationError) as raised:
        _Roster.model_validate(body)
    [error] = raised.value.errors()
    # FastAPI's loc starts with where the error is: the body.
    error_in_body: dict[str, Any] = {**error, "loc": ("body", *error["loc"])}
    route = SimpleNamespace(
        body_field=SimpleNamespace(field_info=SimpleNamespace(annotation=_Roster))
    )
    request = Request({"type": "http", "route": route})
    return unknown_fields.told(request, error_in_body)


@pytest.mark.parametrize(
    ("key", "shown"),
    [
        # An escape at the cut was cut in two: `xxx\` read as an escape of what follows.
        ("x" * 63 + "\u200b" + "tail", "x" * 63 + "\\u200b…"),
        ("x" * 63 + "\\" + "tail", "x" * 63 + "\\\\…"),
        # Cut, and saying so: the name read as if the client had sent only 64 characters.
        ("y" * 100, "y" * 64 + "…"),
        # Not cut: as sent, its invisible characters escaped.
        ("x" * 62 + "\u200b" + "z", "x" * 62 + "\\u200bz"),
        ("MCT\u202e-1", "MCT\\u202e-1"),
    ],
)
def test_a_long_name_in_the_path_is_cut_whole_escapes_and_all_and_says_so(
    key: str, shown: str
) -> None:
    assert _told(key) == f"Unknown field: units.{shown} takes call_sign; did you mean call_sign?"
