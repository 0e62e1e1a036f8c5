"""Changes made on any instance reach every instance within a second.

The database announces them on CHANNEL at commit (migration 0015's triggers and limit
functions): `key <id>` (revoked, re-dated or removed), `agency <id>` (districts,
adjacency, policy, time zone), `auth <json>` (a failed-authentication count or lockout).
Each process hears them on its one LISTEN connection (app/db/listen.Announcements,
shared with the live feeds) and drops the cached copies an announcement makes stale. On
every (re)connection it drops them all and reloads the failure counts, since
announcements may have been missed meanwhile. The caches' TTL stays as the safety net.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from uuid import UUID

from app.db.failures import log_failure, retried_if_found_dead
from app.repositories import limits as limits_repo
from app.services import agency, auth
from app.state import AppState

log = logging.getLogger(__name__)

# Migration 0015 sends on it (CHANNEL there).
CHANNEL = "cit_changed"
# How many failure counts a reconnecting listener reloads at most (lockouts first).
RELOAD_LIMIT = 10_000


def listen(state: AppState) -> None:
    """Hear changes on the process's one LISTEN connection (state.announcements), from now
    until it closes, re-connecting whenever the connection is lost."""
    state.announcements.hear(
        CHANNEL,
        on_notify=functools.partial(heard, state),
        on_listening=functools.partial(_listening, state),
    )


def heard(state: AppState, payload: str) -> None:
    """Drop what the announced change makes stale."""
    kind, _, subject = payload.partition(" ")
    try:
        if kind == "key":
            auth.forget_key_id(state, UUID(subject))
        elif kind == "agency":
            agency.forget(state, UUID(subject))
        elif kind == "auth":
            count = json.loads(subject)
            state.failures.learn(
                (str(count["client"]), str(count["prefix"])),
                int(count["failures"]),
                None if count["locked_for"] is None else float(count["locked_for"]),
            )
        else:
            log.warning("unknown change announced", extra={"kind": kind})
    except (ValueError, KeyError, TypeError):
        log.warning("unreadable change announcement", extra={"kind": kind})


_reloads: set[asyncio.Task[None]] = set()


def _listening(state: AppState) -> None:
    state.principals.clear()
    state.principal_loads.clear()
    state.contexts.clear()
    state.context_loads.clear()
    reload = asyncio.create_task(reload_failures(state))
    _reloads.add(reload)
    reload.add_done_callback(_reloads.discard)


async def reload_failures(state: AppState) -> None:
    """Take the failure counts and lockouts as the database has them now, keeping what is
    learned while the read runs."""
    read_since = state.failures.clock()

    async def read() -> list[limits_repo.FailureCount]:
        async with state.system.connect() as conn:
            return await limits_repo.current_failures(
                conn, lockout_seconds=state.settings.auth_lockout_seconds, limit=RELOAD_LIMIT
            )

    try:
        # After an outage, the pooled connection it first takes is dead: it failed every
        # time (an operator's check), and lockouts begun meanwhile went unknown here.
        counts = await retried_if_found_dead(read)
    except Exception as exc:
        # Lockouts that began meanwhile are still refused when their next failure is
        # counted; the next reconnection tries again.
        log_failure(log, "could not reload failed authentications", exc)
        return
    state.failures.replace(
        (((count.client, count.prefix), count.failures, count.locked_for) for count in counts),
        read_since=read_since,
    )
