"""Which database failures mean "the database is unavailable" (a 503, retry later).

A failure reaches us either from asyncpg itself (the hot path runs on the driver
connection) or wrapped by SQLAlchemy (its dialect turns most PostgreSQL errors into a plain
DBAPIError, whatever their SQLSTATE), so both the exception and its causes are examined.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import exc as sa_exc

# SQLSTATEs of a server that cannot serve now: class 08 (connection exception), 53300
# too_many_connections, 57014 query_canceled (past the statement_timeout: a lock held long,
# say), 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now (starting up,
# recovering, shutting down), 57P05 idle_session_timeout.
T = TypeVar("T")

_UNAVAILABLE_STATES = frozenset({"53300", "57014", "57P01", "57P02", "57P03", "57P05"})

# Failures that say a connection that was fine is now gone: it died idle in the pool or
# mid-request. Nothing sent on it after the failure can have committed.
_LOST_CONNECTION = (
    OSError,  # ConnectionError included
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.PostgresConnectionError,  # class 08
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.IdleSessionTimeoutError,
)


# asyncpg's own refusal on a connection whose server ended it while it sat in the pool: the
# server's farewell (an error) has been read, its closed socket not yet, and the next
# statement is refused before anything is sent ("cannot switch to state 15; another
# operation (2) is in progress"). That refusal only: asyncpg's other client errors (an
# encoder missing, a protocol error read after a statement ran) are no lost connection.
_REFUSED_TO_SEND = "cannot switch to state"


def _lost(item: BaseException) -> bool:
    if isinstance(item, TimeoutError):
        # An OSError too, but the connection may be fine: its server has not answered yet
        # (a statement's bound, or a connect's). A new one would wait on the same server.
        return False
    if isinstance(item, _LOST_CONNECTION):
        return True
    return type(item) is asyncpg.InternalClientError and str(item).startswith(_REFUSED_TO_SEND)


def _chain(exc: BaseException) -> list[BaseException]:
    """exc, the DBAPI error it wraps, and their causes, each once."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop()
        if item is None or any(item is s for s in seen):
            continue
        seen.append(item)
        orig = getattr(item, "orig", None)
        todo.append(item.__cause__)
        if not item.__suppress_context__:  # `raise … from None` says it is not the cause
            todo.append(item.__context__)
        if isinstance(orig, BaseException):
            todo.append(orig)
    return seen


def _sqlstate(exc: BaseException) -> str | None:
    state = getattr(exc, "sqlstate", None)
    return state if isinstance(state, str) else None


def is_unavailable(exc: BaseException) -> bool:
    """The database cannot serve now (down, starting, shutting down, full, unreachable,
    or the connection was lost): the client should retry later."""
    for item in _chain(exc):
        if _lost(item) or isinstance(item, (asyncpg.InterfaceError, TimeoutError)):
            return True
        if isinstance(item, (sa_exc.TimeoutError, sa_exc.OperationalError, sa_exc.InterfaceError)):
            return True
        if isinstance(item, sa_exc.DBAPIError) and item.connection_invalidated:
            return True
        state = _sqlstate(item)
        if state is not None and (state.startswith("08") or state in _UNAVAILABLE_STATES):
            return True
    return False


def constraint_of(exc: BaseException) -> str | None:
    """The name of the constraint the PostgreSQL error under exc broke, if it names one."""
    for item in _chain(exc):
        name = getattr(item, "constraint_name", None)
        if isinstance(name, str):
            return name
    return None


# SQLSTATEs of a transaction the server rolled back to settle a conflict with another:
# 40P01 deadlock_detected, 40001 serialization_failure. Run again, it may well succeed.
_ROLLED_BACK_STATES = frozenset({"40P01", "40001"})


def is_rolled_back_by_conflict(exc: BaseException) -> bool:
    """The server undid the transaction to break a deadlock or a serialization failure."""
    return any(_sqlstate(item) in _ROLLED_BACK_STATES for item in _chain(exc))


# 57014 query_canceled: a statement the server cancelled at its statement_timeout (or an
# operator's pg_cancel_backend). The transaction is aborted; the connection is fine.
_CANCELLED = "57014"


def is_timeout(exc: BaseException) -> bool:
    """A statement that ran out of time: the server cancelled it at its statement_timeout,
    or did not answer at all (went_unanswered)."""
    return any(
        isinstance(item, TimeoutError) or _sqlstate(item) == _CANCELLED for item in _chain(exc)
    )


def waits_again(exc: BaseException) -> bool:
    """Whether the next round trip would wait on the database as this one did: it did not
    answer, the connection is gone, or the pool had none to give (not a statement the
    server cancelled, or a refusal, which come back at once)."""
    return (
        went_unanswered(exc)
        or is_lost_connection(exc)
        or any(isinstance(item, sa_exc.TimeoutError) for item in _chain(exc))
    )


def went_unanswered(exc: BaseException) -> bool:
    """The server did not answer a statement at all (the driver's command_timeout): its
    connection is not to be used again."""
    return any(isinstance(item, TimeoutError) for item in _chain(exc))


def is_lost_connection(exc: BaseException) -> bool:
    """The connection itself is gone (it died idle, or the server went away)."""
    for item in _chain(exc):
        if _lost(item):
            return True
        if isinstance(item, sa_exc.DBAPIError) and item.connection_invalidated:
            return True
        state = _sqlstate(item)
        if state is not None and (state.startswith("08") or state in {"57P01", "57P02", "57P05"}):
            return True
    return False


def found_connection_dead(exc: BaseException) -> bool:
    """SQLAlchemy found the (pooled) connection a statement ran on closed, and has
    invalidated the pool: a connect that failed is not this."""
    return isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated


async def retried_if_found_dead(run: Callable[[], Awaitable[T]]) -> T:
    """run(), and once more if it found its pooled connection dead (the database restarted
    since the connection was last used): SQLAlchemy has invalidated the pool, and nothing
    reached the database, so running it again is safe. For single statements on autocommit
    connections; a unit of work begins again on its own (app/db/unit_of_work.py)."""
    try:
        return await run()
    except Exception as exc:
        if not found_connection_dead(exc):
            raise
        return await run()


def log_failure(
    logger: logging.Logger, message: str, exc: BaseException, extra: Mapping[str, Any] = {}
) -> None:
    """Log a failure the service goes on after (an entry it could not write, a refresh it
    leaves). The database being unavailable is the one to expect during an outage: one
    line naming the error, no traceback (one a request buried the rest of the log);
    anything else, a bug perhaps, with its traceback."""
    if not is_unavailable(exc):
        logger.warning(message, extra=extra, exc_info=exc)
        return
    # The driver's or the socket's own error: SQLAlchemy's wrapper quotes the statement.
    told = next((i for i in _chain(exc) if not isinstance(i, sa_exc.SQLAlchemyError)), exc)
    error = f"{type(told).__name__}: {told}"[:300]
    logger.warning(f"{message}: the database is unavailable", extra={**extra, "error": error})
