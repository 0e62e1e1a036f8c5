"""SQL for the limits every instance shares (migration 0015): token buckets, failed
authentications and their lockouts.

The application role calls definer-rights functions; the owner (housekeeping, and the
listener's reload) reads and purges the tables directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.raw import driver, json_text


@dataclass(frozen=True)
class FailureCount:
    """A (client, prefix) count as the database has it: prefix '' for none, '*' for the
    client over every prefix; locked_for is the seconds left of its lockout, if any."""

    client: str
    prefix: str
    failures: int
    locked_for: float | None


ANY_PREFIX = "*"
NO_PREFIX = ""

# Committed without waiting for the WAL to reach the disk (synchronous_commit off, for this
# statement's own transaction only): a take lost to a crash of the database gives a key back
# at most the chunks taken in its last few hundred milliseconds, within SPEC §9's "give or
# take one refill". Waiting, each take added a WAL flush beside intake's, whose commits
# then waited on it too: on a fast machine the shared limits cost call intake 3.7 to 4.1 %
# in bench/limits.py's comparison alone (6 to 8 % inside bench/calls.py), and 1.0 to 2.3 %
# without the wait. The setting is read at commit, so its place in the statement does not
# matter; set inside the definer-rights function, it would end with the function.
_TAKE = text(
    "SELECT t.taken, t.left_over FROM cit_take_tokens(:key_id, :capacity, :wanted) t,"
    " set_config('synchronous_commit', 'off', true)"
)


async def take_tokens(
    conn: AsyncConnection, *, key_id: UUID, capacity: int, wanted: int
) -> tuple[int, float]:
    """Take up to wanted tokens from the key's bucket: (how many it gave, what is left).

    conn must be in autocommit mode: the take commits on its own, asynchronously (above),
    and inside a transaction that would make the whole transaction's commit asynchronous.
    """
    if (await driver(conn)).is_in_transaction():
        raise RuntimeError("take_tokens commits on its own: run it on an autocommit connection")
    params = {"key_id": key_id, "capacity": capacity, "wanted": wanted}
    row = (await conn.execute(_TAKE, params)).one()
    return int(row.taken), float(row.left_over)


_FAILED = text(
    "SELECT failures, locked_for, client_failures, client_locked_for FROM cit_auth_failed("
    ":client, :prefix, :request_id, CAST(:detail AS jsonb), :per_key, :per_client,"
    " make_interval(secs => :lockout))"
)


async def auth_failed(
    conn: AsyncConnection,
    *,
    client: str,
    prefix: str | None,
    request_id: str | None,
    detail: dict[str, Any],
    per_key: int,
    per_client: int,
    lockout_seconds: float,
) -> tuple[FailureCount, FailureCount]:
    """Audit a failed authentication and count it, for its prefix and for its client, in
    one round trip; the two counts after it. Announced on cit_changed."""
    params = {
        "client": client,
        "prefix": prefix,
        "request_id": request_id,
        "detail": json_text(detail),
        "per_key": per_key,
        "per_client": per_client,
        "lockout": lockout_seconds,
    }
    row = (await conn.execute(_FAILED, params)).one()
    return (
        FailureCount(client, prefix or NO_PREFIX, row.failures, row.locked_for),
        FailureCount(client, ANY_PREFIX, row.client_failures, row.client_locked_for),
    )


_SUCCEEDED = text("SELECT failures, locked_for FROM cit_auth_succeeded(:client, :prefix)")


async def auth_succeeded(
    conn: AsyncConnection, *, client: str, prefix: str | None
) -> FailureCount | None:
    """Clear the failures counted against (client, prefix), announced if there were any;
    a lockout in effect stays, and is returned (else None)."""
    row = (await conn.execute(_SUCCEEDED, {"client": client, "prefix": prefix})).first()
    if row is None:
        return None
    return FailureCount(client, prefix or NO_PREFIX, row.failures, row.locked_for)


# As the owner: what a listener (re)connecting must know (it may have missed announcements).
_CURRENT = text(
    "SELECT client, prefix, failures,"
    " extract(epoch FROM locked_until - clock_timestamp())::double precision AS locked_for"
    " FROM auth_failure"
    " WHERE locked_until > now() OR first_at > now() - make_interval(secs => :lockout)"
    " ORDER BY locked_until DESC NULLS LAST LIMIT :limit"
)


async def current_failures(
    conn: AsyncConnection, *, lockout_seconds: float, limit: int
) -> list[FailureCount]:
    """The counts still in their window, lockouts first, at most limit of them."""
    rows = await conn.execute(_CURRENT, {"lockout": lockout_seconds, "limit": limit})
    return [FailureCount(r.client, r.prefix, r.failures, r.locked_for) for r in rows]


# A bucket untouched for a minute is full again: the same as no row at all.
_PURGE_BUCKETS = text("DELETE FROM rate_bucket WHERE at < now() - interval '1 minute'")
_PURGE_FAILURES = text(
    "DELETE FROM auth_failure WHERE first_at < now() - CAST(:lockout AS interval)"
    " AND (locked_until IS NULL OR locked_until < now())"
)


async def purge(conn: AsyncConnection, *, lockout: timedelta) -> int:
    """Remove full buckets and failure counts past their window (as the owner)."""
    buckets = (await conn.execute(_PURGE_BUCKETS)).rowcount
    failures = (await conn.execute(_PURGE_FAILURES, {"lockout": lockout})).rowcount
    return int(buckets) + int(failures)
