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

from app.errors import UnsupportedMediaType


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
            # Decoded as UTF-8 here (a UTF-8 byte order mark let by, as before): json.loads
            # given bytes guesses UTF-16 or UTF-32 from them, which I-JSON (RFC 7493 §2.1)
            # refuses; a UnicodeDecodeError is the "not UTF-8 JSON" 422.
            self._json = json.loads(
                (await self.body()).decode("utf-8-sig"), object_pairs_hook=_object
            )
        return self._json


def _json_media_type(content_type: str | None) -> bool:
    """Whether a body of this Content-Type is read as JSON: application/json, or any type
    with the +json suffix (RFC 6839), as FastAPI reads them. A body with none is not read
    as JSON (FastAPI's strict content type: a browser's form post across origins sends
    none without a CORS preflight), so it is refused here too, saying why."""
    media_type = (content_type or "").partition(";")[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def accepted_media_types(route: APIRoute) -> tuple[str, ...]:
    """The media types the route's body is documented in, which a 415 names: its
    openapi_extra's request body (POST /v1/eido: plain JSON and EIDO's), else JSON. Any
    other +json type is read too, but no Accept-Post can say "+json"."""
    body = (route.openapi_extra or {}).get("requestBody") or {}
    return tuple(body.get("content") or ()) or ("application/json",)


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    return (length is not None and length.strip() != "0") or "transfer-encoding" in request.headers


def _coded(request: Request) -> bool:
    """Whether the body comes in a content coding (RFC 9110 §8.4): it would be read as the
    JSON it is not, or, mislabelled, as JSON the client did not mean to send that way."""
    codings = ",".join(request.headers.getlist("content-encoding")).split(",")
    return any(c.strip().lower() not in ("", "identity") for c in codings)


class StrictJSONRoute(APIRoute):
    """A route whose JSON body may not repeat a name within an object, and whose body must
    be sent as JSON: another Content-Type, or none (curl -d's form encoding, text/plain, a
    client that sends no header), is a 415 saying so, not a 422 about the body's shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        takes_body = self.body_field is not None
        accepted = accepted_media_types(self)

        async def strict(request: Request) -> Response:
            content_type = request.headers.get("content-type")
            if takes_body and not _json_media_type(content_type) and _has_body(request):
                raise UnsupportedMediaType(
                    f"The body must be JSON, sent with Content-Type: {' or '.join(accepted)}",
                    method=request.method,
                    accepted=accepted,
                )
            if takes_body and _coded(request) and _has_body(request):
                raise UnsupportedMediaType(
                    "The body must be sent as it is, with no Content-Encoding (gzip, br and"
                    " the like are not taken)",
                    method=request.method,
                    accepted=accepted,
                    coded=True,
                )
            return await handle(_StrictJSONRequest(request.scope, request.receive))

        return strict
