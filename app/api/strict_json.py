"""Request bodies read as I-JSON (RFC 7493): a name given twice in one object is refused.

JSON leaves a repeated name to the parser (RFC 8259, section 4), and Python's keeps the last
one, so `{"safety": {"weapon": true, "weapon": false}}` from a faulty CAD would lose the
weapon flag without a word. Every /v1 router takes StrictJSONRoute; FastAPI turns the
parser's ValueError into its 400, which app/api/problems.py answers as the body's 422.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute


class RepeatedName(ValueError):
    """A JSON object of the body gives the same name twice."""

    def __init__(self, name: str) -> None:
        super().__init__(f"the name {name!r} is given twice in one object")
        self.name = name


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    made = dict(pairs)
    if len(made) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise RepeatedName(name)
            seen.add(name)
    return made


class _StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = json.loads(await self.body(), object_pairs_hook=_object)
        return self._json


class StrictJSONRoute(APIRoute):
    """A route whose JSON body may not repeat a name within an object."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handle(_StrictJSONRequest(request.scope, request.receive))

        return strict
