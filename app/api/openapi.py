"""The OpenAPI document: what FastAPI derives from the routes, plus what it cannot see.

FastAPI documents paths, parameters, bodies and the problem responses the routes declare.
This adds the rest of the contract: the problem schemas' components, the headers the
middleware and the idempotency layer put on answers, and every webhook event (the
document's `webhooks` section, OpenAPI 3.1), whose payloads come from the event catalogue.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, TypeAdapter
from starlette.routing import BaseRoute

from app.eido import schema as eido_schema
from app.errors import ACCEPT_HEADERS
from app.events.catalogue import CATALOGUE

_SCHEMAS = "#/components/schemas/"
# The EIDO document, as POST /v1/eido takes it and the exports give it.
EIDO_DOCUMENT = {"$ref": _SCHEMAS + "Eido" + eido_schema.ROOT}
_HEADERS = "#/components/headers/"

HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {
        "description": "The request's id: the client's own X-Request-ID if it sent a sane"
        " one, else a new one. It is in the access log and the audit trail.",
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 0},
    },
    "Location": {
        "description": "The path of what this request created (under the API's root): GET it"
        " there.",
        "schema": {"type": "string", "format": "uri-reference"},
    },
    "Idempotent-Replayed": {
        "description": "Present, and `true`, when this answer is the stored answer to an"
        " earlier request with the same Idempotency-Key.",
        "schema": {"type": "string", "enum": ["true"]},
    },
}

# The document's own description (info.description): what no operation can list, as it is
# about a path or the API as a whole, where a client generated from the document shows it.
DESCRIPTION = (
    "Every error is an RFC 9457 problem (`application/problem+json`, the Problem schema),"
    " and each operation lists those it may answer. Two answers are about a path, not an"
    " operation, so no operation lists them: a path the API does not have (one with a"
    " trailing slash included) is a 404 of type `…/not-found`; a method a path does not"
    " take (`DELETE /v1/calls`) is a 405 of type `…/method-not-allowed` whose `Allow` header"
    " lists the methods the path takes (`HEAD` wherever `GET` is, but on `/v1/stream`)."
)

# Components of library types, which no docstring of ours describes.
_LIBRARY_SCHEMAS = {
    "JsonValue": "Any JSON value: an object, an array, a string, a number, true, false or null.",
}

# Statuses whose answers carry Retry-After.
_RETRY_AFTER = ("429", "503")
# A route that takes an Idempotency-Key says which of its statuses a replay can answer
# (the statuses of the answers it stores): `openapi_extra=replays(...)`. The key is taken
# out of the document.
_REPLAYS = "x-replays"
# The 409 of such a route carries Retry-After only when it is this type: OpenAPI cannot tie
# a header to a problem type, so the header's description in that 409 says it.
_IN_PROGRESS_RETRY_AFTER = {
    **HEADERS["Retry-After"],
    "description": "Seconds to wait before trying again: sent only with the 409 of type"
    " `…/request-in-progress` (a request with the same Idempotency-Key still running),"
    " never with the route's other 409s.",
}

_WEBHOOK_HEADERS = {
    "webhook-id": "The delivery's id, the same on every retry: deduplicate on it.",
    "webhook-timestamp": "Unix seconds of this attempt.",
    "webhook-signature": "`v1,` and the base64 HMAC-SHA256 of `id.timestamp.body` with the"
    " subscription's secret (Standard Webhooks).",
}


def build(
    routes: Sequence[BaseRoute], app: FastAPI, problem_models: tuple[type[BaseModel], ...]
) -> dict[str, Any]:
    """The whole document for app, its paths in the order of routes."""
    schema = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=DESCRIPTION,
        routes=routes,
    )
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for model in problem_models:
        _add_schema(
            schemas, model.__name__, model.model_json_schema(ref_template=_SCHEMAS + "{model}")
        )
    for name, description in _LIBRARY_SCHEMAS.items():
        if name in schemas:
            schemas[name].setdefault("description", description)
    _add_eido(schemas)
    components["headers"] = HEADERS
    for path_item in schema.get("paths", {}).values():
        for method, operation in path_item.items():
            _declare_headers(operation)
            _declare_accepted(method, operation)
    schema["webhooks"] = _webhooks(schemas)
    return schema


def _add_eido(schemas: dict[str, Any]) -> None:
    """The EIDO schema (NENA-STA-021) the service validates documents with, as `Eido…`
    components: POST /v1/eido takes, and the exports answer, `EIDO_DOCUMENT`."""

    def renamed(node: Any) -> Any:
        if isinstance(node, dict):
            out = {key: renamed(value) for key, value in node.items()}
            ref = out.get("$ref")
            if isinstance(ref, str) and ref.startswith(_SCHEMAS):
                out["$ref"] = _SCHEMAS + "Eido" + ref.removeprefix(_SCHEMAS)
            return out
        if isinstance(node, list):
            return [renamed(item) for item in node]
        return node

    for name, body in eido_schema.schemas().items():
        schemas["Eido" + name] = renamed(body)


def _add_schema(schemas: dict[str, Any], name: str, body: dict[str, Any]) -> None:
    for sub_name, sub in body.pop("$defs", {}).items():
        schemas.setdefault(sub_name, sub)
    schemas[name] = body


def created() -> dict[int | str, dict[str, Any]]:
    """The responses of a route whose 201 says where what it created is (Location)."""
    return {201: {"headers": {"Location": {"$ref": _HEADERS + "Location"}}}}


def replays(*statuses: int) -> dict[str, Any]:
    """The openapi_extra of a route that takes an Idempotency-Key: the statuses of the
    answers it stores, which a replay answers again."""
    return {_REPLAYS: [str(status) for status in statuses]}


def _declare_headers(operation: dict[str, Any]) -> None:
    """Every answer has X-Request-ID; 429 and 503 have Retry-After; on a route that
    takes an Idempotency-Key, the statuses a replay can answer have Idempotent-Replayed,
    and its 409 has Retry-After when a request with the same key is still running
    (`…/request-in-progress`, and only then)."""
    idempotent = any(
        p.get("in") == "header" and p.get("name", "").lower() == "idempotency-key"
        for p in operation.get("parameters", [])
    )
    replayable = operation.pop(_REPLAYS, None)
    if idempotent != (replayable is not None):
        raise ValueError(f"{operation['operationId']}: replays() goes with an Idempotency-Key")
    for status, response in operation.get("responses", {}).items():
        headers = response.setdefault("headers", {})
        headers["X-Request-ID"] = {"$ref": _HEADERS + "X-Request-ID"}
        if status in _RETRY_AFTER:
            headers["Retry-After"] = {"$ref": _HEADERS + "Retry-After"}
        elif idempotent and status == "409":
            headers["Retry-After"] = dict(_IN_PROGRESS_RETRY_AFTER)
        if idempotent and status in replayable:
            headers["Idempotent-Replayed"] = {"$ref": _HEADERS + "Idempotent-Replayed"}


def _declare_accepted(method: str, operation: dict[str, Any]) -> None:
    """A POST's or a PATCH's 415 names the media types its body is taken in (Accept-Post,
    Accept-Patch): those the operation's request body lists. An operation that takes no
    body never answers 415 (StrictJSONRoute ignores a body it does not read), though it
    documents 413, which problems() takes for a route with a body."""
    body = operation.get("requestBody")
    if body is None:
        operation.get("responses", {}).pop("415", None)
        return
    accept = ACCEPT_HEADERS.get(method.upper())
    refused = operation.get("responses", {}).get("415")
    if accept is None or refused is None:
        return
    taken = ", ".join(body["content"])
    refused["headers"][accept] = {
        "description": f"The media types the body is taken in: `{taken}`.",
        "schema": {"type": "string"},
    }


_TIMESTAMP = (
    "When the event was written. The events of one change share it (a status report's"
    " unit.status_changed and the unit.released it causes, say): a receiver sees ties, and"
    " orders them by the delivery's event_id or the live feed's position, not by this alone."
)


def _webhooks(schemas: dict[str, Any]) -> dict[str, Any]:
    """One entry per event type: the request the relay sends to a subscriber."""
    hooks: dict[str, Any] = {}
    for event_type, kind in CATALOGUE.items():
        payload_name = f"Webhook{kind.payload.__name__}"
        if payload_name not in schemas:
            payload = TypeAdapter(kind.payload).json_schema(
                ref_template=_SCHEMAS + "Webhook{model}"
            )
            defs = payload.pop("$defs", {})
            _add_schema(schemas, payload_name, payload)
            for sub_name, sub in defs.items():
                schemas.setdefault(f"Webhook{sub_name}", sub)
        hooks[event_type] = {
            "post": {
                "summary": event_type,
                "description": kind.description
                + (" Unit terminals on the call hear it too." if kind.heard_on_the_call else ""),
                "operationId": f"webhook_{event_type.replace('.', '_')}",
                "tags": ["webhooks"],
                "parameters": [
                    {
                        "name": name,
                        "in": "header",
                        "required": True,
                        "description": text,
                        "schema": {"type": "string"},
                    }
                    for name, text in _WEBHOOK_HEADERS.items()
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["type", "timestamp", "data"],
                                "additionalProperties": False,
                                "properties": {
                                    "type": {"type": "string", "const": event_type},
                                    "timestamp": {
                                        "type": "string",
                                        "format": "date-time",
                                        "description": _TIMESTAMP,
                                    },
                                    "data": {"$ref": _SCHEMAS + payload_name},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "2XX": {"description": "Received; the delivery is done."},
                    "410": {"description": "Gone: the subscription is disabled at once."},
                    "default": {
                        "description": "Any other answer, or none within 10 s, is retried on"
                        " the schedule (a Retry-After lengthens the wait)."
                    },
                },
            }
        }
    return hooks
