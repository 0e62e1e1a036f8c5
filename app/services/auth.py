"""Authentication: which API key a request carries, with lockout and rate limits.

Both limits hold for the whole deployment (SPEC §9): the database counts failures and
holds each key's token bucket (app/repositories/limits.py, migration 0015). An instance
checks lockouts against its copy of the counts (state.failures), kept current by the
database's announcements (app/services/changes.py), so a request costs no extra round
trip for them; it takes its keys' tokens from the shared buckets a chunk at a time.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
from datetime import UTC, datetime
from uuid import UUID

from app.db.failures import log_failure, retried_if_found_dead
from app.errors import TooManyRequests, Unauthorized
from app.repositories import keys as repo
from app.repositories import limits as limits_repo
from app.repositories import stream_tickets as tickets_repo
from app.repositories.limits import ANY_PREFIX, NO_PREFIX
from app.security import TICKET_SECONDS, Principal, hash_key, key_prefix, ticket_prefix
from app.services import audit
from app.state import CLIENT_BUDGET, AppState

log = logging.getLogger(__name__)
# The longest a right key waits for the uncached tries at it beside it to settle.
UNPROVEN_WAIT = 5.0


async def authenticate(
    state: AppState,
    secret: str | None,
    *,
    client: str,
    request_id: str | None,
    missing: str | None = None,
) -> Principal:
    """The key's principal; 401 for a missing or bad key, 429 during a lockout.

    Failures count per client address and presented key prefix: five bad tries at one
    key lock that key out from that client (CJIS's account lockout), and five bad or
    missing keys lock out prefix-less attempts. Other consoles behind the same address
    keep working with their own keys, unless the address fails CLIENT_BUDGET times as
    often in all. The counts and lockouts are every instance's. missing: the 401's detail
    when no key is taken (why, when one was sent but could not be).
    """
    prefix = key_prefix(secret)
    await _refuse_if_locked_out(state, client=client, prefix=prefix, request_id=request_id)
    if secret is None:
        await _failed(state, client=client, prefix=prefix, request_id=request_id)
        raise Unauthorized() if missing is None else Unauthorized(missing)
    digest, key = hash_key(secret), (client, prefix or NO_PREFIX)
    # A key not cached is looked up in the database: until it is known right or counted
    # wrong, a right key tried beside it waits (limits.Unproven).
    unproven = state.principals.get(digest) is None
    if unproven:
        state.unproven.begin(key)
    try:
        principal = await _principal(state, digest)
        if principal is None:
            await _failed(state, client=client, prefix=prefix, request_id=request_id)
            raise Unauthorized("The API key is not valid")
    finally:
        if unproven:
            state.unproven.end(key)
    try:
        async with asyncio.timeout(UNPROVEN_WAIT):
            waited = await state.unproven.settled(key)
    except TimeoutError:  # tries at this key streaming in without end: not let in beside them
        raise TooManyRequests("Too many authentications at this key from this client", 1) from None
    if waited:
        await _refuse_if_locked_out(state, client=client, prefix=prefix, request_id=request_id)
    return await _admitted(state, principal, client=client, prefix=prefix, request_id=request_id)


async def redeem_ticket(
    state: AppState, ticket: str, *, client: str, request_id: str | None
) -> tuple[Principal, bytes]:
    """The principal of the key a stream ticket acts as, with that key's hash; the ticket
    is spent whatever the outcome, once looked at (a lockout of the address or the ticket
    is refused before: a 429 that leaves it unspent). A used, expired or unknown ticket, or
    one whose key was revoked or expired since, is a 401 (a 429 once counted past a
    lockout) and counts as a failed authentication of that ticket (security.ticket_prefix);
    lockouts and the key's rate limit hold as for a key."""
    digest = hash_key(ticket)
    prefix = ticket_prefix(digest)
    await _refuse_if_locked_out(state, client=client, prefix=prefix, request_id=request_id)
    key_hash = await retried_if_found_dead(functools.partial(_redeem, state, digest))
    principal = None if key_hash is None else await _principal(state, key_hash)
    if key_hash is None or principal is None:
        await _failed(state, client=client, prefix=prefix, request_id=request_id)
        raise Unauthorized(
            "The stream ticket is not valid: each opens one stream, within "
            f"{TICKET_SECONDS} seconds of being issued, while its key is valid"
        )
    admitted = await _admitted(
        state, principal, client=client, prefix=prefix, request_id=request_id
    )
    return admitted, key_hash


async def _redeem(state: AppState, digest: bytes) -> bytes | None:
    async with state.autocommit.connect() as conn:
        return await tickets_repo.redeem(conn, digest)


async def _refuse_if_locked_out(
    state: AppState, *, client: str, prefix: str | None, request_id: str | None
) -> None:
    """429 while (client, prefix) or the whole client is locked out."""
    wait = state.failures.retry_after((client, prefix or NO_PREFIX), (client, ANY_PREFIX))
    if wait is None:
        return
    # Recorded too, against the presented prefix's agency, but at most once a minute per
    # address and prefix (with a count), so a flood of refusals cannot flood the trail.
    refused = state.lockout_refusals.refused((client, prefix))
    if refused is not None:
        await audit.record_auth_failure(
            state.autocommit,
            prefix=prefix,
            client=client,
            request_id=request_id,
            locked_out=refused,
        )
    raise TooManyRequests("Too many failed authentications from this client", wait)


async def _principal(state: AppState, digest: bytes) -> Principal | None:
    """The valid key with this hash, from the cache or the database: requests that find it
    uncached share one lookup, and one past half its cached life is looked up again
    behind the request that finds it so (app/cache.py)."""
    look_up = functools.partial(_look_up, state, digest)
    return await state.principal_loads.read(state.principals, digest, look_up)


async def _admitted(
    state: AppState,
    principal: Principal,
    *,
    client: str,
    prefix: str | None,
    request_id: str | None,
) -> Principal:
    """The authenticated principal, once its client's failures are cleared and its key has
    a token to spend (else a 429). Clearing them may find a lockout this instance has not
    heard of yet: then it refuses, as it would have had it heard."""
    if state.failures.has_failures((client, prefix or NO_PREFIX)):
        await _succeeded(state, client=client, prefix=prefix)
        await _refuse_if_locked_out(state, client=client, prefix=prefix, request_id=request_id)
    # A principal found by its key always has its key's id (only server commands have none).
    wait = None if principal.key_id is None else await _take_token(state, principal.key_id)
    if wait is not None:
        raise TooManyRequests("This API key's request rate limit is exceeded", wait)
    return principal


async def record_held_refusals(state: AppState) -> int:
    """Record the lockout refusals held back for a minute (see authenticate); how many entries."""
    held = state.lockout_refusals.due()
    for (client, prefix), refused in held:
        await audit.record_auth_failure(
            state.autocommit, prefix=prefix, client=client, request_id=None, locked_out=refused
        )
    return len(held)


async def still_valid(state: AppState, key_hash: bytes, principal: Principal) -> bool:
    """Whether the key that opened a long-lived answer (a live feed) still holds: not
    revoked, not expired. Served from the key cache, so a revocation reaches an open
    stream when it reaches requests (announced, within a second)."""
    current = await _principal(state, key_hash)
    return current is not None and current.key_id == principal.key_id


def forget_key(state: AppState, digest: bytes) -> None:
    """Drop a revoked key from this process's cache at once."""
    state.principals.discard(digest)
    state.principal_loads.forget(digest)


def forget_key_id(state: AppState, key_id: UUID) -> None:
    """Drop a key changed on any instance (announced) from this process's cache."""
    state.principals.discard_if(lambda principal: principal.key_id == key_id)
    state.principal_loads.clear()  # which hash a lookup in flight is for is not known here


async def _look_up(state: AppState, digest: bytes) -> Principal | None:
    """The key's principal from the database, cached until the TTL or its expiry. A key
    that is no longer valid (revoked, expired) leaves the cache at once."""
    read_at = state.principals.generation
    principal = await retried_if_found_dead(functools.partial(_find_principal, state, digest))
    if principal is None:
        if state.principals.get(digest) is not None:
            state.principals.discard(digest)
    else:
        ttl = None
        if principal.expires_at is not None:
            ttl = (principal.expires_at - datetime.now(UTC)).total_seconds()
        # A revocation announced while this lookup ran may not be in what it read.
        state.principals.put(digest, principal, ttl=ttl, read_at=read_at)
    return principal


async def _find_principal(state: AppState, digest: bytes) -> Principal | None:
    async with state.autocommit.connect() as conn:
        return await repo.find_principal(conn, digest)


async def _failed(
    state: AppState, *, client: str, prefix: str | None, request_id: str | None
) -> None:
    """Audit and count a failed authentication, for every instance, in one round trip.

    A try counted past a limit came while that lockout already held: it is refused as the
    lockout refuses (429), not told its key is wrong. Tries sent at once are all checked
    before any is counted; were those past the limit answered 401, while the right key
    among them met the lockout's 429, a burst would learn which key was right.
    """
    limit = state.settings.auth_failure_limit
    try:
        async with state.autocommit.connect() as conn:
            counts = await limits_repo.auth_failed(
                conn,
                client=client,
                prefix=prefix,
                request_id=request_id,
                detail={"key_prefix": prefix, "client": client},
                per_key=limit,
                per_client=limit * CLIENT_BUDGET,
                lockout_seconds=state.settings.auth_lockout_seconds,
            )
    except Exception as exc:  # The 401 stands even if the count cannot be kept right now.
        log_failure(log, "could not record a failed authentication", exc)
        return
    for count in counts:
        state.failures.learn((count.client, count.prefix), count.failures, count.locked_for)
    key_count, client_count = counts
    past = [
        count.locked_for or 1.0
        for count, most in ((key_count, limit), (client_count, limit * CLIENT_BUDGET))
        if count.failures > most
    ]
    if past:
        wait = max(1, math.ceil(max(past)))
        raise TooManyRequests("Too many failed authentications from this client", wait)


async def _succeeded(state: AppState, *, client: str, prefix: str | None) -> None:
    """A success clears the failures counted at (client, prefix), on every instance; not a
    lockout in effect, which this instance may not have heard of yet: it learns it now."""
    try:
        async with state.autocommit.connect() as conn:
            locked = await limits_repo.auth_succeeded(conn, client=client, prefix=prefix)
    except Exception as exc:
        log_failure(log, "could not clear failed authentications", exc)
        return
    if locked is None:
        state.failures.learn((client, prefix or NO_PREFIX), 0, None)
    else:
        state.failures.learn((locked.client, locked.prefix), locked.failures, locked.locked_for)


async def _take_token(state: AppState, key_id: UUID) -> int | None:
    """Spend one of the key's tokens: None if allowed, else the seconds to wait.

    Tokens come from the key's shared bucket a chunk at a time; requests that find this
    instance's share spent wait for one take together.
    """
    rate = state.rate
    if rate.per_minute <= 0:
        return None
    while not rate.spend(key_id):
        wait = rate.refused_for(key_id)
        if wait is not None:
            return wait
        taking = state.rate_takes.get(key_id)
        # A take that ended (its callback not yet run) gave what others have spent since.
        if taking is None or taking.done():
            taking = asyncio.create_task(_take_chunk(state, key_id))
            state.rate_takes[key_id] = taking
            taking.add_done_callback(functools.partial(_taken, state, key_id))
        await asyncio.shield(taking)
    return None


async def _take_chunk(state: AppState, key_id: UUID) -> None:
    async def take() -> tuple[int, float]:
        async with state.autocommit.connect() as conn:
            return await limits_repo.take_tokens(
                conn, key_id=key_id, capacity=state.rate.per_minute, wanted=state.rate.chunk
            )

    taken, left = await retried_if_found_dead(take)
    state.rate.granted(key_id, taken, left)


def _taken(state: AppState, key_id: UUID, done: asyncio.Task[None]) -> None:
    if state.rate_takes.get(key_id) is done:
        del state.rate_takes[key_id]
    if not done.cancelled():
        done.exception()  # retrieved here; the requests that awaited it have it too
