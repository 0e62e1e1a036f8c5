"""Authentication: which API key a request carries, with lockout and rate limits."""

from __future__ import annotations

from app.db.failures import found_connection_dead
from app.errors import TooManyRequests, Unauthorized
from app.repositories import keys as repo
from app.security import Principal, hash_key, key_prefix
from app.services import audit
from app.state import AppState


async def authenticate(
    state: AppState, secret: str | None, *, client: str, request_id: str | None
) -> Principal:
    """The key's principal; 401 for a missing or bad key, 429 during a lockout.

    Failures count per client address and presented key prefix: five bad tries at one
    key lock that key out from that client (CJIS's account lockout), and five bad or
    missing keys lock out prefix-less attempts. Other consoles behind the same address
    keep working with their own keys, unless the address fails CLIENT_BUDGET times as
    often in all.
    """
    prefix = key_prefix(secret)
    attempt = (client, prefix)
    wait = state.auth_throttle.retry_after(attempt) or state.client_throttle.retry_after(client)
    if wait is not None:
        # Recorded too, against the presented prefix's agency, but at most once a minute per
        # address and prefix (with a count), so a flood of refusals cannot flood the trail.
        refused = state.lockout_refusals.refused(attempt)
        if refused is not None:
            await audit.record_auth_failure(
                state.autocommit,
                prefix=prefix,
                client=client,
                request_id=request_id,
                locked_out=refused,
            )
        raise TooManyRequests("Too many failed authentications from this client", wait)
    principal = None
    if secret is not None:
        digest = hash_key(secret)
        principal = state.principals.get(digest)
        if principal is None:
            try:
                principal = await _find_principal(state, digest)
            except Exception as exc:
                if not found_connection_dead(exc):
                    raise
                # A pooled connection that died idle (the database restarted): SQLAlchemy
                # has invalidated the pool; a read is safe to run again, once.
                principal = await _find_principal(state, digest)
            if principal is not None:
                state.principals.put(digest, principal)
    if principal is None:
        state.auth_throttle.failed(attempt)
        state.client_throttle.failed(client)
        await audit.record_auth_failure(
            state.autocommit, prefix=prefix, client=client, request_id=request_id
        )
        raise Unauthorized() if secret is None else Unauthorized("The API key is not valid")
    state.auth_throttle.succeeded(attempt)
    # A principal found by its key always has its key's id (only server commands have none).
    wait = None if principal.key_id is None else state.rate_limiter.take(principal.key_id)
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


async def still_valid(state: AppState, secret: str, principal: Principal) -> bool:
    """Whether the key that opened a long-lived answer (a live feed) still holds: not
    revoked, not expired. Served from the key cache, so a revocation reaches an open
    stream when it reaches requests (within CIT_CACHE_TTL_SECONDS)."""
    digest = hash_key(secret)
    current = state.principals.get(digest)
    if current is None:
        current = await _find_principal(state, digest)
        if current is not None:
            state.principals.put(digest, current)
    return current is not None and current.key_id == principal.key_id


def forget_key(state: AppState, digest: bytes) -> None:
    """Drop a revoked key from this process's cache at once."""
    state.principals.discard(digest)


async def _find_principal(state: AppState, digest: bytes) -> Principal | None:
    async with state.autocommit.connect() as conn:
        return await repo.find_principal(conn, digest)
