"""Conditional requests (RFC 9110 §13.1.1): a write that names, with If-Match, the entity
tag of the representation it read goes ahead only while that is still the current one."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import Header

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
    only for one of its strong tags (a weak tag never matches, nor does a malformed one)."""
    if header is None:
        return None
    if header.strip() == "*":
        return lambda _: True
    strong = {m.group(0) for m in _ENTITY_TAG.finditer(header) if m.group(1) is None}
    if not strong:
        # It could never match: said so, not as a change since it was read (the tag the
        # 412 quoted was often the one sent, unquoted, and a console retried it forever).
        raise PreconditionFailed(
            "If-Match holds no strong entity tag: send the ETag as the answer gave it,"
            ' double quotes included ("…"); a weak one (W/"…") never matches a write'
        )
    return lambda current: current in strong
