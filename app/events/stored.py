"""An event's payload as this release documents it, whichever release wrote it.

The relay reads a payload when it sends it and the live feed when it replays it, up to the
events' retention after they were written: an event kept from before a field joined its
payload type lacks it. Migration 0040 filled in those a lookup tells; a field that may be
null is sent null where the payload lacks it (the call sign of a unit with no shift, a
part before, an outcome not recorded), also for an event that an instance of an earlier
release writes while this one rolls out. But external_id, whose null says the call has no
CAD number: an event of such an instance, written after migration 0040, goes without it
rather than with a false null.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any, Union, get_args, get_origin, get_type_hints

from app.events.catalogue import CATALOGUE

# A key whose null tells something a lookup would contradict: never made up here.
_LOOKED_UP = frozenset({"external_id"})


def _nullable(payload_type: type[Any]) -> tuple[str, ...]:
    """The keys of a payload type whose values may be null."""
    hints = get_type_hints(payload_type)
    return tuple(
        key
        for key, hint in hints.items()
        if get_origin(hint) in (Union, types.UnionType)
        and type(None) in get_args(hint)
        and key not in _LOOKED_UP
    )


_NULLABLE: Mapping[str, tuple[str, ...]] = {
    event_type: _nullable(kind.payload) for event_type, kind in CATALOGUE.items()
}


def documented(event_type: str, payload: Mapping[str, Any]) -> Mapping[str, Any]:
    """The payload with null for each key of its type that may be null and that it lacks
    (itself when it lacks none: the usual case costs a look per such key)."""
    missing = [key for key in _NULLABLE.get(event_type, ()) if key not in payload]
    return payload if not missing else {**payload, **dict.fromkeys(missing)}
