"""FastAPI dependencies: the caller's identity, its agency and the request's transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from app.agency_context import AgencyContext
from app.api.permissions import Permission, allowed
from app.errors import Forbidden, Unauthorized
from app.security import Principal
from app.services.idempotency import Replay
from app.state import AppState

ON_COMMIT = "cit_on_commit"
_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer cit_…`")


# Dependencies are all `async def`: FastAPI runs a plain `def` one in a worker thread,
# which costs more than the rest of the dependency tree together.
async def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.cit
    return state


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized()
    return await (await app_state(request)).authenticate(credentials.credentials)


def require(permission: Permission) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """Dependency: the caller, if its role has the permission (SPEC §3.6), else 403."""

    async def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not allowed(principal.role, permission):
            raise Forbidden(f"The {principal.role} role may not {permission.value}")
        return principal

    return check


async def agency_context(
    request: Request, principal: Annotated[Principal, Depends(current_principal)]
) -> AgencyContext:
    return await (await app_state(request)).agency_context(principal.agency_id)


async def _unit_of_work(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's transaction: committed before the response is sent, or rolled back."""
    async with (await app_state(request)).sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
        for callback in session.info.pop(ON_COMMIT, []):
            callback()


def after_commit(session: AsyncSession, callback: Callable[[], None]) -> None:
    """Run callback once the request's transaction has committed (e.g. drop a cache entry)."""
    session.info.setdefault(ON_COMMIT, []).append(callback)


# scope="function": the commit runs when the endpoint returns, before any 2xx is sent.
UnitOfWork = Annotated[AsyncSession, Depends(_unit_of_work, scope="function")]
Context = Annotated[AgencyContext, Depends(agency_context)]
State = Annotated[AppState, Depends(app_state)]


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Retry-safe key (IETF httpapi draft); kept at least 24 h per agency",
        # 1 to 255 printable ASCII characters: what check_key accepts of a header value.
        pattern=r"^[!-~](?:[ -~]{0,253}[!-~])?$",
    ),
]


def replayed(replay: Replay) -> JSONResponse:
    """The stored answer to an earlier request with the same Idempotency-Key."""
    media = "application/problem+json" if replay.status >= 400 else "application/json"
    return JSONResponse(
        replay.body,
        status_code=replay.status,
        media_type=media,
        headers={"Idempotent-Replayed": "true"},
    )


def request_id(request: Request) -> str | None:
    """The id the request context middleware gave this request."""
    value = request.scope.get("state", {}).get("request_id")
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class PageParams:
    limit: int
    cursor: str | None


async def page_params(
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    # What encode_cursor returns: 16 bytes in unpadded base64url. Any such string decodes,
    # so the schema says exactly which cursors are valid.
    cursor: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{22}$")] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


Paging = Annotated[PageParams, Depends(page_params)]
