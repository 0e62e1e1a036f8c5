"""FastAPI dependencies: the caller's identity, its agency and the request's transaction.

Who the caller is, and whether the route lets it in, is app/api/callers.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy.ext.asyncio import AsyncSession

from app.agency_context import AgencyContext
from app.api.callers import app_state, authenticated, authorize, authorized, bearer
from app.db.unit_of_work import UnitOfWork
from app.schemas.common import DIGITS, worded
from app.security import Principal
from app.services import agency, audit
from app.services.audit import AuditNote
from app.services.idempotency import Replay
from app.state import AppState


async def audit_note(request: Request, _: Annotated[Principal, Depends(authorize)]) -> AuditNote:
    """The request's audit note, for routes that name what they created."""
    note: AuditNote = request.state.audit
    return note


async def agency_context(
    request: Request, principal: Annotated[Principal, Depends(authorize)]
) -> AgencyContext:
    return await agency.context(await app_state(request), principal.agency_id)


async def _unit_of_work(
    request: Request, principal: Annotated[Principal, Depends(authorize)]
) -> AsyncIterator[UnitOfWork]:
    async with _work(request, await app_state(request), principal) as work:
        yield work


@asynccontextmanager
async def _work(
    request: Request, state: AppState, principal: Principal, *, read_only: bool = False
) -> AsyncIterator[UnitOfWork]:
    """The request's transaction in the caller's agency, begun on first use: committed
    when the endpoint returns, with the request's audit entry, or rolled back. A read-only
    one (BEGIN READ ONLY) serves reads that write no audit entry."""
    if read_only and getattr(request.state, "audit", None) is not None:
        raise RuntimeError("an audited route needs a read-write unit of work")
    async with state.unit_of_work(principal.agency_id, read_only=read_only) as work:
        yield work
        note: AuditNote | None = getattr(request.state, "audit", None)
        if note is not None:
            await audit.write_note(work, note)


async def _read_only_work(
    request: Request, principal: Annotated[Principal, Depends(authorize)]
) -> AsyncIterator[UnitOfWork]:
    async with _work(request, await app_state(request), principal, read_only=True) as work:
        yield work


# scope="function": the commit runs when the endpoint returns, before any 2xx is sent.
Work = Annotated[UnitOfWork, Depends(_unit_of_work, scope="function")]
ReadWork = Annotated[UnitOfWork, Depends(_read_only_work, scope="function")]


async def _session(work: Work) -> AsyncSession:
    return await work.session()


async def _read_session(work: ReadWork) -> AsyncSession:
    return await work.session()


@dataclass(frozen=True)
class Handling:
    """What a hot route needs of its request: the caller, let in by the route's rule, the
    agency's context, the transaction (read-only for ReadHandled), and the process's
    state."""

    who: Principal
    context: AgencyContext
    work: UnitOfWork
    state: AppState


async def _handling(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> AsyncIterator[Handling]:
    """Caller, Context, Work and State in one dependency, in the same order and with the
    same answers (401, 403 audited, the unknown query parameter's 422, the audit note).

    FastAPI's resolution of a dependency costs more than most of them do: those four are
    six nodes, authorize's reached three ways, on every request. The hot routes (call
    intake, dispatch and clear, a terminal's /units/me) take this one instead; it still
    depends on HTTPBearer, so the OpenAPI document declares the same security scheme.
    """
    state, who, context = await _let_in(request, credentials)
    async with _work(request, state, who) as work:
        yield Handling(who=who, context=context, work=work, state=state)


async def _read_handling(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> AsyncIterator[Handling]:
    """_handling for the hot reads (the consoles' GET /v1/units): Caller, Context,
    ReadWork and State in one dependency, with their answers. At 20,000 officers, FastAPI's
    solving of those as separate dependencies was about a sixth of serve's work on one
    district's read; of this one, about a fourteenth."""
    state, who, context = await _let_in(request, credentials)
    async with _work(request, state, who, read_only=True) as work:
        yield Handling(who=who, context=context, work=work, state=state)


async def _let_in(
    request: Request, credentials: HTTPAuthorizationCredentials | None
) -> tuple[AppState, Principal, AgencyContext]:
    """The state, the caller let in by the route's rule, and the caller's agency context."""
    state = await app_state(request)
    who = await authenticated(request, state, credentials)
    await authorized(request, who)
    return state, who, await agency.context(state, who.agency_id)


Session = Annotated[AsyncSession, Depends(_session)]
ReadSession = Annotated[AsyncSession, Depends(_read_session)]
Caller = Annotated[Principal, Depends(authorize)]
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
Audit = Annotated[AuditNote, Depends(audit_note)]
Context = Annotated[AgencyContext, Depends(agency_context)]
State = Annotated[AppState, Depends(app_state)]
# scope="function", as Work: the commit runs before the answer is sent.
Handled = Annotated[Handling, Depends(_handling, scope="function")]
ReadHandled = Annotated[Handling, Depends(_read_handling, scope="function")]


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Retry-safe key (IETF httpapi draft); kept at least 24 h per agency",
        # 1 to 255 printable ASCII characters: what check_key accepts of a header value.
        pattern=worded(
            r"^[!-~](?:[ -~]{0,253}[!-~])?$",
            "1 to 255 printable ASCII characters, neither the first nor the last a space",
        ),
    ),
]


def replayed(replay: Replay, created: Created | None = None, path: str = "") -> JSONResponse:
    """The stored answer to an earlier request with the same Idempotency-Key; a 201 says
    again where what it created is (`path`), as the first answer did."""
    media = "application/problem+json" if replay.status >= 400 else "application/json"
    headers = {"Idempotent-Replayed": "true"}
    if replay.status == 201 and created is not None:
        headers.update(created.header(path))
    return JSONResponse(replay.body, status_code=replay.status, media_type=media, headers=headers)


@dataclass(frozen=True)
class Created:
    """Where a 201's new resource is: its Location (RFC 9110 §10.2.2), the path of the
    resource's GET under the application's root path (a proxy's prefix), without a host:
    which host the client reached us by is the proxy's business."""

    root: str
    response: Response

    def header(self, path: str) -> dict[str, str]:
        """The header, for an answer the route builds itself."""
        return {"Location": self.root + path}

    def at(self, path: str) -> None:
        """Put the header on the answer FastAPI builds from what the route returns."""
        self.response.headers.update(self.header(path))


def _created(request: Request, response: Response) -> Created:
    return Created(request.scope.get("root_path", ""), response)


Located = Annotated[Created, Depends(_created)]


@dataclass(frozen=True)
class PageParams:
    limit: int
    cursor: str | None


async def page_params(
    limit: Annotated[int, Query(ge=1, le=500), DIGITS] = 50,
    # What encode_cursor returns: 16 bytes in unpadded base64url. Any such string decodes,
    # so the schema says exactly which cursors are valid.
    cursor: Annotated[
        str | None,
        Query(pattern=worded(r"^[A-Za-z0-9_-]{22}$", "a cursor as a page's next_cursor gives one")),
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


Paging = Annotated[PageParams, Depends(page_params)]
