"""Who calls: the API key (or stream ticket) a request presents, and whether the route's
rule (app/api/permissions.py) lets its role in, with the audit trail's note of it.

The FastAPI dependencies built on these are in app/api/deps.py.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import TypeAdapter, ValidationError

from app.api.middleware import KEY_PREFIX
from app.api.permissions import permits, rule_for
from app.api.query_names import refuse_unknown_query
from app.errors import Forbidden, Invalid
from app.security import Principal, hash_key
from app.services import audit, auth
from app.services.audit import AuditNote
from app.state import AppState
from app.vocabulary import RESPONDER_TYPES

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer cit_…`")


# Dependencies are all `async def`: FastAPI runs a plain `def` one in a worker thread,
# which costs more than the rest of the dependency tree together.
async def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.cit
    return state


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    return await authenticated(request, await app_state(request), credentials)


async def authenticated(
    request: Request, state: AppState, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    secret = None
    if credentials is not None and credentials.scheme.lower() == "bearer":
        secret = credentials.credentials
    if len(request.headers.getlist("authorization")) > 1:
        # Two credentials: which one would act is a guess (the first, as read), so neither
        # does. Refused as a missing key is, and counted so.
        return await auth.authenticate(
            state,
            None,
            client=_client(request),
            request_id=request_id(request),
            missing="Give one Authorization header: this request has several",
        )
    principal = await auth.authenticate(
        state, secret, client=_client(request), request_id=request_id(request)
    )
    _name_key(request, principal)
    return principal


def _name_key(request: Request, who: Principal) -> None:
    """Name the key that authenticated in the request's access log line (its prefix)."""
    request.scope.setdefault("state", {})[KEY_PREFIX] = who.prefix


# Path parameters that name the resource a request acts on, for the audit trail.
_RESOURCE_PARAMS = (
    "code",
    "officer_id",
    "co_responder_id",
    "shift_id",
    "certification_id",
    "call_id",
    "subscription_id",
    "delivery_id",
    "key_id",
)


async def authorize(
    request: Request, principal: Annotated[Principal, Depends(current_principal)]
) -> Principal:
    """The caller, if the route's rule (app/api/permissions.py) lets its role in; else 403."""
    await authorized(request, principal)
    return principal


# How much of a path's resource id an audit entry keeps.
_RESOURCE_ID_KEPT = 300


async def authorized(request: Request, principal: Principal) -> None:
    """Let the caller in if the route's rule (app/api/permissions.py) does; else 403.

    Every denial is audited. Routes whose rule is audited get a note that the request's
    transaction records on success, and the error handlers record on failure.
    """
    # The template as the OpenAPI document and the rules write it: without a converter
    # (`{incident_id}`, where the route has `{incident_id:incident_id}`).
    path = getattr(request.scope.get("route"), "path_format", "")
    rule = rule_for(request.method, path)
    if rule is None:  # A /v1 route without a rule is a programming error: refuse it.
        raise Forbidden("This route has no permission rule")
    params = request.path_params
    named = next(((p, str(params[p])) for p in _RESOURCE_PARAMS if p in params), None)
    resource = None if named is None else _as_audited(*named)
    if resource is not None and len(resource) > _RESOURCE_ID_KEPT:
        # Every id this service gives is far shorter: a path of kilobytes is the
        # caller's text, and each denial writes one entry (security review).
        resource = resource[:_RESOURCE_ID_KEPT] + "…"
    note = AuditNote(
        who=principal,
        action=rule.action,
        resource_type=rule.resource_type,
        request_id=request_id(request),
        resource_id=resource,
    )
    denial: str | None = None
    if not permits(rule, principal.role):
        denial = f"The {principal.role} role may not use {request.method} {path}"
    elif principal.role == "unit" and rule.unit_own and resource is not None:
        denial = _not_its_own(rule.resource_type, resource, principal)
    if denial is not None:
        why = audit.failure(Forbidden.status, Forbidden.slug, denial)
        await audit.write_note_apart((await app_state(request)).autocommit, note, "denied", why)
        raise Forbidden(denial)
    request.state.authorized = True
    if rule.audited:
        note.by_service = rule.audited_by_service
        request.state.audit = note
    refuse_unknown_query(request)


def _not_its_own(resource_type: str, resource: str, principal: Principal) -> str | None:
    """Why a unit key may not use a path naming resource (None when it is its own): another
    responder's id, or its own id on the other kind's path (/v1/co-responders/{an
    officer's id}/status), which says where the key's own status is set, as the 404 for
    another key's call of that path does (app/services/unit_kind.py): a terminal wired to
    the wrong kind of path was told only that the id was not its own."""
    denial = "A unit key may act only for its own responder"
    if not _names(resource, principal.responder_id):
        return denial
    kind = principal.responder_type
    if resource_type not in RESPONDER_TYPES or resource_type == kind:
        return None
    if kind is None:
        return denial
    words = kind.replace("_", "-")
    path = f"/v1/{words}s/{principal.responder_id}/status"
    return f"{denial}, which is {'an' if kind == 'officer' else 'a'} {words}: use {path}"


_PATH_ID = TypeAdapter(UUID)


def _as_audited(param: str, value: str) -> str:
    """A path's resource id as its audit entry names it: an id in its one spelling (the
    route takes `{…}`, `urn:uuid:…`, upper case and no hyphens alike, and a search of the
    trail by the id must find every request at it); anything else as sent, even when it is
    no valid id, but for NUL, which PostgreSQL's text cannot hold (U+FFFD marks where one
    was), as the entry must still be written."""
    if param != "code" and len(value) <= _RESOURCE_ID_KEPT:
        try:  # as the route reads it: Python's UUID() takes forms the routes refuse
            return str(_PATH_ID.validate_python(value))
        except ValidationError:
            pass
    return value.replace("\x00", "\ufffd")


def _names(resource: str, responder_id: UUID | None) -> bool:
    """Whether a path's id is responder_id, however it is spelt (upper case, no hyphens)."""
    try:
        return UUID(resource) == responder_id
    except ValueError:
        return False


async def authorize_unread_body(request: Request) -> None:
    """Authenticate and authorise a request whose body could not be read as JSON, as the
    route's dependencies would have; raises what they raise (401, 403, 429).

    FastAPI parses a route's JSON body before it solves the route's dependencies, so a
    body that is not JSON at all (a syntax error, not UTF-8, nested too deep) was answered
    422 before anyone looked at the key: no 401 without one, no 403 (nor its audit entry)
    for a role the route refuses. The 422 handler calls this for those errors
    (app/api/problems.py).
    A route outside /v1 (the probes, the docs) takes no key, and one whose caller was
    already authorised needs nothing more.
    """
    if getattr(request.state, "authorized", False):
        return
    path = getattr(request.scope.get("route"), "path_format", "")
    if rule_for(request.method, path) is None and not path.startswith("/v1/"):
        return  # a /v1 route without a rule is refused below (authorized), as always
    principal = await authenticated(request, await app_state(request), await bearer(request))
    await authorized(request, principal)


async def stream_caller_by_key(
    request: Request, state: AppState, credentials: HTTPAuthorizationCredentials | None
) -> tuple[Principal, bytes]:
    """The caller of GET /v1/stream that presents its key, let in by the route's rule,
    with its key's hash (the feed checks the key still holds by it)."""
    who = await authenticated(request, state, credentials)
    await authorized(request, who)
    return who, hash_key("" if credentials is None else credentials.credentials)


async def stream_caller_by_ticket(
    request: Request, state: AppState, ticket: str
) -> tuple[Principal, bytes]:
    """The caller of GET /v1/stream that presents a stream ticket (spent here), as the key
    it acts as, let in by the route's rule; with that key's hash."""
    if request.headers.get("authorization") is not None:
        raise Invalid("Give an API key or a stream ticket, not both", loc=("query", "ticket"))
    refuse_unknown_query(request)  # before the ticket is spent
    who, key_hash = await auth.redeem_ticket(
        state, ticket, client=_client(request), request_id=request_id(request)
    )
    _name_key(request, who)
    await authorized(request, who)
    return who, key_hash


def request_id(request: Request) -> str | None:
    """The id the request context middleware gave this request."""
    value = request.scope.get("state", {}).get("request_id")
    return value if isinstance(value, str) else None
