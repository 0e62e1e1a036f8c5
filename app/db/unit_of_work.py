"""The unit of work: one transaction in one agency, committed or rolled back in one place.

Every request that touches the database runs in one (app/api/deps.py opens it), and so do
the background jobs that act for an agency. It starts lazily, on the first statement, with
BEGIN and the agency in one round trip, and offers two ways in: the raw connection, for
the hot path's hand-written statements (call intake), and an ORM session on that same
connection and transaction. A read-only unit of work (BEGIN READ ONLY) serves reads and
reports, so they can never write.

After COMMIT, the after_commit callbacks run (e.g. dropping a cache entry, or counting a
recommendation in the metrics: a service given only the session finds its unit of work with
of_session); after a rollback, or a failed commit, the on_rollback ones do (e.g. releasing
an Idempotency-Key), so a client retrying never finds its key stuck. A 2xx is never sent
for a transaction that did not commit: the API commits before the response goes out.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from app.db.failures import is_lost_connection, went_unanswered
from app.db.raw import abandon, driver, invalidate_pool

log = logging.getLogger(__name__)


async def _discard(conn: AsyncConnection, exc: BaseException) -> None:
    """Close a connection whose BEGIN failed; never hand it back to the pool as it is."""
    if isinstance(exc, Exception) and is_lost_connection(exc):
        # The others in the pool are likely dead too (a restart): have the pool replace
        # every connection older than now, as SQLAlchemy does when it sees a disconnect.
        await invalidate_pool(conn, exc)
    if went_unanswered(exc):
        await abandon(conn)  # the server did not answer: no word more to it
    else:
        await conn.invalidate()
    await conn.close()


# The key under which a session's info holds its unit of work (of_session).
_WORK = "cit.unit_of_work"


class UnitOfWork:
    def __init__(self, engine: AsyncEngine, agency_id: UUID, *, read_only: bool = False) -> None:
        """engine must be in AUTOCOMMIT mode (AppState.autocommit), so SQLAlchemy sends no
        BEGIN or COMMIT of its own: this class does, on the driver connection."""
        self._engine = engine
        self.agency_id = agency_id
        self.read_only = read_only
        self._conn: AsyncConnection | None = None
        self._session: AsyncSession | None = None
        self._after_commit: list[Callable[[], None]] = []
        self._on_rollback: list[Callable[[], Awaitable[None]]] = []
        self._finished = False
        self._generic_plans = False

    def use_generic_plans(self) -> None:
        """Have this transaction's statements run on their generic plans, planned once per
        connection (plan_cache_mode, for the transaction only); call before its first use.

        For requests whose few statements are the same every time and pick their rows by
        key: PostgreSQL otherwise may plan such a statement again on every execution, when
        its plan for the values given looks cheaper than the generic one. Dispatch's read
        was planned afresh each time, and planning cost more than running it (issue 16).
        So was triage's candidate query on a PostgreSQL 15 server holding one large agency
        (the embedded 16, and 15 with the benchmark's two agencies, chose the generic
        plan): about 1.2 ms of planning for 0.4 ms of work, on every call intake, EIDO
        import and update, which now run on generic plans too. Which plan the server picks
        depends on its version and statistics; this takes the choice away.
        """
        if self._conn is not None:
            raise RuntimeError("use_generic_plans: the transaction has already begun")
        self._generic_plans = True

    async def connection(self) -> AsyncConnection:
        """The transaction's connection, beginning the transaction on first use."""
        if self._finished:
            raise RuntimeError("this unit of work has already finished")
        if self._conn is None:
            conn = await self._engine.connect()
            try:
                await self._begin(conn)
            except Exception as exc:
                await _discard(conn, exc)
                if not is_lost_connection(exc):
                    raise
                # The pooled connection had died idle (e.g. the database restarted since it
                # was last used). Only BEGIN was sent, so nothing can have committed: begin
                # again, once, on a new connection. This costs nothing while connections
                # are fine, unlike a ping before every checkout (pool_pre_ping).
                log.info("a pooled connection was lost; beginning again on a new one")
                conn = await self._engine.connect()
                try:
                    await self._begin(conn)
                except BaseException as again:
                    await _discard(conn, again)
                    raise
            except BaseException as exc:
                await _discard(conn, exc)
                raise
            self._conn = conn
        return self._conn

    async def _begin(self, conn: AsyncConnection) -> None:
        mode = "BEGIN READ ONLY" if self.read_only else "BEGIN"
        plans = ", set_config('plan_cache_mode', 'force_generic_plan', true)"
        # One round trip: the simple query protocol takes both statements. The agency id
        # is a UUID, so its text form is safe to inline.
        await (await driver(conn)).execute(
            f"{mode}; SELECT set_config('cit.agency_id', '{UUID(str(self.agency_id))}', true)"
            + (plans if self._generic_plans else "")
        )

    async def session(self) -> AsyncSession:
        """An ORM session in the same transaction (services flush; only commit() commits)."""
        if self._session is None:
            self._session = AsyncSession(
                bind=await self.connection(), expire_on_commit=False, info={_WORK: self}
            )
        return self._session

    async def restart(self) -> None:
        """Roll back what was done so far and begin afresh on the same connection.

        A failed statement aborts the transaction; this lets a service read on after one
        (e.g. which call holds a duplicate external_id) without a second connection. The
        callbacks stay: they run when this unit of work finishes.
        """
        if self._conn is None:
            return
        if self._session is not None:
            await self._session.close()
            self._session = None
        await (await driver(self._conn)).execute("ROLLBACK")
        await self._begin(self._conn)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run callback once the transaction has committed."""
        self._after_commit.append(callback)

    def on_rollback(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Await callback if the transaction rolls back or fails to commit."""
        self._on_rollback.append(callback)

    async def commit(self) -> None:
        """Flush the session, COMMIT, then run the after-commit callbacks."""
        if self._conn is not None:
            if self._session is not None:
                await self._session.flush()
            await (await driver(self._conn)).execute("COMMIT")
            await self._release()
        self._finished = True
        for callback in self._after_commit:
            try:
                callback()
            except Exception:  # committed is committed: a callback cannot undo it
                log.warning("an after-commit callback failed", exc_info=True)

    async def rollback(self, cause: BaseException | None = None) -> None:
        """ROLLBACK (if anything began), then run the on-rollback callbacks. After a
        statement the server did not answer in time (cause), the connection is closed
        instead: the server rolls its transaction back as it goes, and a ROLLBACK would
        wait as long again for the cancelled statement, on a server that may not answer."""
        if self._conn is not None:
            if cause is not None and went_unanswered(cause):
                await abandon(self._conn)
            else:
                try:
                    await (await driver(self._conn)).execute("ROLLBACK")
                except Exception:
                    # Never hand a connection mid-transaction back to the pool.
                    await self._conn.invalidate()
            await self._release()
        self._finished = True
        for callback in self._on_rollback:
            try:
                await callback()
            except Exception:
                log.warning("a rollback callback failed", exc_info=True)

    async def _release(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._finished:
            return
        if exc_type is not None:
            await self.rollback(exc)
            return
        try:
            await self.commit()
        except BaseException as failed:
            await self.rollback(failed)
            raise


def of_session(session: AsyncSession) -> UnitOfWork:
    """The unit of work whose transaction session runs in: a service given only the session
    registers its after-commit callbacks there."""
    work = session.info.get(_WORK)
    if not isinstance(work, UnitOfWork):
        raise LookupError("this session was not made by a unit of work")
    return work


async def read_after_failure(session: AsyncSession) -> AsyncConnection:
    """A connection to read on after a statement of session's unit of work failed (a unique
    key or trigger refused a write): the failed statement aborted the transaction, and a
    savepoint does not rescue the session, so its unit of work begins afresh (restart).
    For a refusal that names what it clashed with: nothing the request did is kept."""
    work = of_session(session)
    await work.restart()
    return await work.connection()
