"""Render every error the service returns as RFC 9457 application/problem+json."""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route, compile_path

from app.api import path_ids, unknown_fields
from app.api.callers import authorize_unread_body
from app.api.middleware import LONG_LIVED
from app.api.strict_json import RepeatedName
from app.db.failures import is_rolled_back_by_conflict, is_timeout, is_unavailable, waits_again
from app.encryption import UndecryptableValue
from app.errors import PROBLEM_BASE, AppError, RolledBack, ServiceUnavailable
from app.schemas.common import said
from app.services import audit
from app.vocabulary import invisible_escaped, invisible_escaped_repr

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"


class ProblemError(BaseModel):
    """One thing wrong with a request refused as invalid (a 422): `loc` is where it is, a
    path such as `["body", "district"]`, and `msg` says what is wrong, in words."""

    loc: list[str | int]
    msg: str


class Problem(BaseModel):
    """An error (RFC 9457 problem details): `type` names the kind of problem, a URI under
    https://cit-dispatch.dev/problems/; `title` says it in a few words; `status` is the
    answer's HTTP status; `detail` says what went wrong with this request. A 422 lists what
    is wrong in `errors`, at most 50, and counts the rest in `errors_omitted`."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[ProblemError] | None = None
    errors_omitted: int | None = None


def problem_response(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    body.update(extra or {})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


async def _audit_failure(request: Request, status: int, slug: str, detail: str) -> None:
    """An audited request that failed after authorisation leaves an entry too, saying why."""
    note = getattr(request.state, "audit", None)
    if note is None or note.written:
        return
    state = getattr(request.app.state, "cit", None)
    if state is not None:
        why = audit.failure(status, slug, detail)
        denied = status == 403
        await audit.write_note_apart(state.autocommit, note, "denied" if denied else "error", why)


async def _app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    note = getattr(request.state, "audit", None)
    if note is not None and note.resource_id is None and exc.audit_about is not None:
        note.identify(*exc.audit_about)
    await _audit_failure(request, exc.status, exc.slug, exc.detail)
    return problem_response(
        exc.status, exc.slug, exc.title, exc.detail, extra=exc.extra, headers=exc.headers
    )


# A validation answer lists at most this many errors, and counts the rest in
# `errors_omitted`: a body of 256 KiB can hold tens of thousands of mistakes.
MAX_ERRORS = 50


def _unread_body(exc: RequestValidationError) -> bool:
    """Whether this is FastAPI's error for a body it could not parse as JSON, raised before
    the route's dependencies ran (its own, or _http_error's for what its parser raised)."""
    errors = exc.errors()
    return bool(errors) and all(
        e["type"] == "json_invalid" and tuple(e["loc"][:1]) == ("body",) for e in errors
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    if _in_path(exc) and not _method_allowed(request):
        # The router sent a concrete path to a templated route that has the method, and the
        # path is no value of the template's (PATCH /v1/shifts/bulk for /v1/shifts/{id}):
        # the path has no such method.
        return await _http_error(request, StarletteHTTPException(405))
    try:
        if _unread_body(exc):
            await authorize_unread_body(request)
    except AppError as refused:  # no key, a bad one, a lockout, or a role the route refuses
        return await _app_error(request, refused)
    except RequestValidationError:
        pass  # an unknown query parameter too: the body's error is answered
    every = exc.errors()
    # Only loc and msg: the offending input is never echoed, since it may be sensitive. A
    # loc may name a key the client chose (a policy's nature code): cut, controls replaced.
    errors = [
        {
            "loc": [p if isinstance(p, int) else shown(str(p)) for p in e["loc"]],
            "msg": unknown_fields.told(request, e) or path_ids.told(e, said(e)),
        }
        for e in every[:MAX_ERRORS]
    ]
    # In the sentence, a name's invisible characters are escaped (a direction mark turned
    # the rest of it around); loc keeps the name as sent, for a client to match.
    detail = (
        "; ".join(
            f"{'.'.join(invisible_escaped(str(p)) for p in e['loc'])}: {e['msg']}"
            for e in errors[:5]
        )
        or "The request is not valid"
    )
    extra: dict[str, Any] = {"errors": errors}
    if len(every) > MAX_ERRORS:
        extra["errors_omitted"] = len(every) - MAX_ERRORS
    if len(every) > 5:
        # detail names five: say there are more, as errors (or errors_omitted) lists them.
        more = len(every) - 5
        detail += f" (and {more} more error{'s' if more > 1 else ''})"
    await _audit_failure(request, 422, "validation", detail)
    return problem_response(422, "validation", "Validation failed", detail, extra=extra)


_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def shown(name: str) -> str:
    """A name from the request as an error may show it: at most 64 characters, control
    characters (NUL among them) as U+FFFD. Quoted, see quoted()."""
    cut = name if len(name) <= 64 else name[:64] + "…"
    return _CONTROLS.sub("\ufffd", cut)


def quoted(name: str) -> str:
    """A name from the request quoted as an error shows it (`'call.cre\\u202eated'`): shown,
    then repr, with each invisible character escaped, so that no name reads as another
    (repr escapes only those Python deems not printable: U+3164 HANGUL FILLER, U+034F and
    the variation selectors it left as sent), and a backslash doubled, by repr alone."""
    return invisible_escaped_repr(shown(name))


def _body_error(cause: BaseException | None) -> str | None:
    """What is wrong with a body FastAPI could not parse (its 400), or None if not that."""
    if isinstance(cause, UnicodeDecodeError):
        return "The body is not UTF-8 JSON"
    if isinstance(cause, RecursionError):
        return "The body's JSON is nested too deeply"
    if isinstance(cause, RepeatedName):
        return f"The body's JSON gives the name {quoted(cause.name)} twice in one object"
    if isinstance(cause, ValueError):  # e.g. an integer longer than Python converts
        return "The body is not valid JSON"
    return None


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and (message := _body_error(exc.__cause__)) is not None:
        # FastAPI's 400 for a body its JSON parser raised on other than a syntax error: not
        # UTF-8, nested too deep for the parser, an integer too long. Invalid JSON is already
        # a 422, and so are these: payload validation (docs/api.md, "Errors").
        body_error = {"loc": ("body",), "msg": message, "type": "json_invalid"}
        return await _validation_error(request, RequestValidationError([body_error]))
    titles = {404: "Not found", 405: "Method not allowed"}
    slugs = {404: "not-found", 405: "method-not-allowed"}
    title = titles.get(exc.status_code, "HTTP error")
    headers = dict(exc.headers or {})
    detail = str(exc.detail)
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request) or headers.get("Allow", "")
    if detail == HTTPStatus(exc.status_code).phrase:  # the router's own: say what it means
        detail = _routing_detail(request, exc.status_code, headers.get("Allow", ""))
    slug = slugs.get(exc.status_code, "http-error")
    await _audit_failure(request, exc.status_code, slug, detail)
    return problem_response(exc.status_code, slug, title, detail, headers=headers)


def _routing_detail(request: Request, status: int, allow: str) -> str:
    """What the router's 404 or 405 means, for a client that sent a path or method the API
    does not have (its text was only the status's phrase, "Not Found")."""
    if status == 404:
        return "The API has no such path; its paths are listed at /openapi.json"
    if status == 405 and allow:
        return f"This path does not take {request.method}; it takes {allow}"
    if status == 405:
        return f"This path does not take {request.method}"
    return HTTPStatus(status).phrase


def _allowed_methods(request: Request) -> str | None:
    """Every method the OpenAPI document lists for the request's path (RFC 9110 §15.5.6).

    The router's own 405 names only the methods of the first route whose path matched,
    e.g. GET for /v1/calls/{id}, which PATCH also serves. A template is matched as its
    route matches it, with its converters (an incident id may hold "/").
    """
    routes = {r.path_format: r.path for r in request.app.known_routes if isinstance(r, Route)}
    matches = [
        (template.count("{"), operations)
        for template, operations in request.app.openapi()["paths"].items()
        if compile_path(routes.get(template, template))[0].match(request.url.path)
    ]
    if not matches:
        return None
    # As in OpenAPI path matching, a concrete path wins over a templated one:
    # /v1/districts/locate is not /v1/districts/{code}.
    fewest = min(params for params, _ in matches)
    methods = {
        method.upper()
        for params, operations in matches
        if params == fewest
        for method in operations
        if method.upper() in _HTTP_METHODS
    }
    if "GET" in methods and request.url.path not in LONG_LIVED:
        methods.add("HEAD")  # app/api/middleware.py, HeadMiddleware
    return ", ".join(sorted(methods)) or None


_HTTP_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"}


def _in_path(exc: RequestValidationError) -> bool:
    return any(tuple(e["loc"][:1]) == ("path",) for e in exc.errors())


def _method_allowed(request: Request) -> bool:
    """Whether the OpenAPI document lists the request's method for its path (HEAD as GET)."""
    allowed = _allowed_methods(request)
    method = "GET" if request.method == "HEAD" else request.method
    return allowed is None or method in allowed.split(", ")


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    if is_rolled_back_by_conflict(exc):
        log.warning("transaction undone by the database", extra={"error": _describe(exc)})
        return await _app_error(request, RolledBack())
    if not is_unavailable(exc):
        return await _unexpected(request, exc)
    log.warning("database unavailable", extra={"error": _describe(exc)})
    # Its audit entry is not written when that would wait on the database as long again (a
    # write answered its 503 after twice the timeout): the trail is in that database.
    note = getattr(request.state, "audit", None)
    if note is not None and waits_again(exc):
        note.written = True
    if is_timeout(exc):
        # The database took the request but did not answer it: say what happened to it.
        return await _app_error(request, ServiceUnavailable(_NOT_ANSWERED))
    return await _app_error(request, ServiceUnavailable())


_NOT_ANSWERED = (
    "The database did not answer in time (CIT_DATABASE_TIMEOUT_SECONDS), or cancelled the"
    " request's statement: the request was rolled back, unless its commit had reached the"
    " database. Retry it (with the same Idempotency-Key, if it had one)"
)


def _describe(exc: BaseException) -> str:
    """The error's type, and the SQLSTATE of the PostgreSQL error under it, if any."""
    orig = getattr(exc, "orig", None)
    state = getattr(orig, "sqlstate", None) or getattr(exc, "sqlstate", None)
    return f"{type(exc).__name__} ({state})" if state else type(exc).__name__


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error", exc_info=exc)
    return problem_response(
        500,
        "internal",
        "Internal server error",
        "The server could not complete the request; it has been logged",
    )


async def _undecryptable(request: Request, exc: Exception) -> JSONResponse:
    # The message names the column and row, never the value; the operator needs both.
    log.error("stored value cannot be decrypted", extra={"error": str(exc)})
    return problem_response(
        500,
        "undecryptable",
        "Stored data cannot be decrypted",
        "A stored value failed authentication or needs a key the service lacks; it has been logged",
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(UndecryptableValue, _undecryptable)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # Every database failure is examined: a connection-class one (down, starting up,
    # shutting down, too many connections, connection lost), and a transaction the server
    # undid to break a deadlock, are a 503 with Retry-After, whichever layer raised it
    # (SQLAlchemy wraps most PostgreSQL errors as a plain DBAPIError); anything else stays
    # a 500.
    for exc_type in (
        OSError,
        TimeoutError,
        asyncpg.InterfaceError,
        asyncpg.InternalClientError,  # a connection its server ended (app/db/failures.py)
        asyncpg.PostgresError,
        sa_exc.SQLAlchemyError,
    ):
        app.add_exception_handler(exc_type, _database_error)
    app.add_exception_handler(Exception, _unexpected)


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting the problem+json errors a route returns."""
    descriptions = {
        401: "No API key, or an invalid one",
        403: "The key's role may not do this",
        404: "Not found, or another agency's object",
        409: "Conflict with the current state",
        412: "If-Match names no longer the current representation: read it again",
        413: "Body larger than 256 KiB",
        415: "Body not sent as JSON (Content-Type)",
        422: "Validation failed",
        429: "Too many requests, or too many failed authentications (Retry-After)",
        503: "Database unavailable, the request undone by a concurrent one, or this instance"
        " busy or stopping (Retry-After)",
    }
    # No "model": FastAPI would then also document application/json, which errors never are.
    # create_app's openapi() adds the Problem schema to the components.
    # Every authenticated route may answer 429 (the limits), and 422 for a query parameter
    # it does not take (query_names.refuse_unknown_query), whether or not it takes any.
    if 401 in statuses:
        statuses = (*statuses, *(s for s in (422, 429) if s not in statuses))
    # A route that takes a body (each documents 413) refuses one not sent as JSON.
    if 413 in statuses and 415 not in statuses:
        statuses = (*statuses, 415)
    return {
        s: {
            "description": descriptions.get(s, "Error"),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for s in statuses
    }


def conflict_naming(model: type[BaseModel], description: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses=` entry of a 409 that may name what it clashed with (model, a
    problem with that object's id), or be a plain Problem."""
    return {
        409: {
            "description": description,
            "content": {
                PROBLEM_MEDIA_TYPE: {
                    "schema": {
                        "anyOf": [
                            {"$ref": f"#/components/schemas/{model.__name__}"},
                            {"$ref": "#/components/schemas/Problem"},
                        ]
                    }
                }
            },
        }
    }
