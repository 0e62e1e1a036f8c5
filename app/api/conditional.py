"""Conditional requests (RFC 9110 §13.1): a write that names, with If-Match, the entity tag
of the representation it read goes ahead only while that is still the current one; a read
that names, with If-None-Match, the tag of the representation it holds is answered 304, no
body, while that is still the current one (a console polling a call every few seconds)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import Header
from fastapi.responses import Response

from app.errors import PreconditionFailed

# An entity tag, weak or strong; its opaque part is anything but a double quote.
_ENTITY_TAG = re.compile(r'(W/)?"[^"]*"')


def if_match_header(description: str) -> Any:
    """A route's If-Match header parameter, described for its resource (the OpenAPI
    document shows it); bounded, as every header the service reads is."""
    return Header(alias="If-Match", max_length=1024, description=description)


def if_match(header: str | None) -> Callable[[str], bool] | None:
    """What an If-Match header asks of the current entity tag: None without the header (the
    write goes ahead, as it always did); else a test that "*" passes for any, and a list
    only for one of its strong tags (a weak tag never matches, nor does a malformed one).

    The test is applied by the service, after what refuses the write whatever If-Match
    says (no such call, a cleared one: RFC 9110 §13.2.1), so even a header holding no
    strong tag is answered 412 only then."""
    if header is None:
        return None
    if header.strip() == "*":
        return lambda _: True
    strong = {m.group(0) for m in _ENTITY_TAG.finditer(header) if m.group(1) is None}
    if not strong:
        return _never_matches
    return lambda current: current in strong


def _never_matches(_: str) -> bool:
    """The test of an If-Match holding no strong entity tag: a 412 that says so."""
    # It could never match: said so, not as a change since it was read (the tag the 412
    # quoted was often the one sent, unquoted, and a console retried it forever).
    raise PreconditionFailed(
        "If-Match holds no strong entity tag: send the ETag as the answer gave it,"
        ' double quotes included ("…"); a weak one (W/"…") never matches a write'
    )


def if_none_match_header(description: str) -> Any:
    """A route's If-None-Match header parameter, bounded as If-Match is."""
    return Header(alias="If-None-Match", max_length=1024, description=description)


def not_modified(header: str | None, current: str | None) -> Response | None:
    """The 304 for a read whose If-None-Match names the current entity tag (RFC 9110
    §13.1.2: compared weakly, W/ or not; "*" names any), with that tag; else None, and the
    read answers in full. A tag without its double quotes names nothing."""
    if header is None or current is None:
        return None
    held = {m.group(0).removeprefix("W/") for m in _ENTITY_TAG.finditer(header)}
    if header.strip() == "*" or current.removeprefix("W/") in held:
        return Response(status_code=304, headers={"ETag": current})
    return None


NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {
        "description": "Not modified: If-None-Match named the current ETag (no body)",
        "headers": {
            "ETag": {"description": "The current entity tag", "schema": {"type": "string"}}
        },
    }
}
