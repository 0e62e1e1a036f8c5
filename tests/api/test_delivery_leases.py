"""An attempt's outcome is recorded only by the claim that holds the delivery's lease.

A relay whose attempt outlived its lease (a receiver answering slowly, a relay paused) must
not write over what the claim that took the delivery after it recorded, or is sending."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db.engine import create_engine
from app.repositories import delivery_queue as repo
from tests.helpers import Api, failed_deliveries_counted, grid_districts, subscribe
from tests.receiver import Receiver


async def test_a_late_attempts_outcome_is_not_recorded_over_the_claim_after_it(
    admin: Api, receiver: Receiver, database_url: str, db: asyncpg.Connection
) -> None:
    await grid_districts(admin)
    await subscribe(admin, receiver.url, ["call.created"])
    await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)

    # As the relay's: each statement commits on its own.
    async def claim(conn: AsyncConnection) -> list[Any]:
        return await repo.claim_due(conn, batch=10, lease=timedelta(seconds=30), per_target=32)

    base = create_engine(database_url, pool_size=1)
    engine = base.execution_options(isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            [late] = await claim(conn)
            # Its lease runs out mid-attempt, and another claim takes the delivery.
            await db.execute("UPDATE webhook_delivery SET lease_until = now() - interval '1s'")
            [current] = await claim(conn)
            assert (current.id, current.attempts) == (late.id, 2)
            was = (late.id, late.lease_until)
            # Nothing recorded, and so nothing counted in the metrics.
            late_writes = [
                await repo.mark_failed(conn, was, code=500, error="late"),
                await repo.schedule_retry(
                    conn, was, delay=timedelta(hours=1), code=500, error="late"
                ),
                await repo.mark_delivered(conn, [(was, 200)]),
                await repo.mark_failed_unsent(conn, was, previous_attempt_at=None, error="late"),
            ]
            # A retry gives the status it recorded, a failure the status it found.
            assert late_writes == [None, None, 0, None]
            row = await db.fetchrow("SELECT * FROM webhook_delivery")
            assert (row["status"], row["attempts"], row["last_error"]) == ("pending", 2, None)
            assert row["lease_until"] == current.lease_until
            # The claim that holds the lease records its outcome.
            assert await repo.mark_delivered(conn, [((current.id, current.lease_until), 204)]) == 1
    finally:
        await base.dispose()
    row = await db.fetchrow("SELECT * FROM webhook_delivery")
    assert (row["status"], row["last_status_code"], row["lease_until"]) == ("delivered", 204, None)


async def test_an_attempt_ending_on_a_delivery_failed_meanwhile_leaves_it_failed_saying_what_it_got(
    admin: Api, receiver: Receiver, database_url: str, db: asyncpg.Connection
) -> None:
    """Its subscription went off (or stopped hearing its type) while it was under way: the
    delivery failed then, lease kept. A failure to retry or an unsent end leave it failed
    as it was, found failed (its failure counted as the attempt ends), the failure's answer
    recorded; an attempt that ends it by itself (a spent schedule, a 410) records what it
    got, as a success is recorded: it was delivered."""
    await grid_districts(admin)
    await subscribe(admin, receiver.url, ["call.created"])
    for _ in range(4):
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    base = create_engine(database_url, pool_size=1)
    engine = base.execution_options(isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            claimed = await repo.claim_due(
                conn, batch=10, lease=timedelta(seconds=30), per_target=32
            )
            assert len(claimed) == 4
            await db.execute(
                "UPDATE webhook_delivery"
                " SET status = 'failed', last_error = 'subscription disabled'"
            )
            retried, spent, unsent, sent = [(c.id, c.lease_until) for c in claimed]
            outcomes = [
                await repo.schedule_retry(
                    conn, retried, delay=timedelta(hours=1), code=503, error="503"
                ),
                await repo.mark_failed(conn, spent, code=500, error="500"),
                await repo.mark_failed_unsent(
                    conn, unsent, previous_attempt_at=None, error="subscription disabled"
                ),
                await repo.mark_delivered(conn, [(sent, 204)]),
            ]
    finally:
        await base.dispose()
    assert outcomes == ["failed", "failed", "failed", 1]
    rows = {
        r["id"]: r
        for r in await db.fetch(
            "SELECT id, status, last_status_code, last_error, lease_until FROM webhook_delivery"
        )
    }
    for key, code, error in (
        (retried, 503, "subscription disabled"),
        (spent, 500, "500"),
        (unsent, None, "subscription disabled"),
    ):
        row = rows[key[0]]
        assert tuple(row)[1:] == ("failed", code, error, None), key
    assert rows[sent[0]]["status"] == "delivered"


async def _claimed(database_url: str) -> list[Any]:
    """Claim what is due, as a relay would at an attempt's start (its lease set)."""
    engine = create_engine(database_url, pool_size=1).execution_options(
        isolation_level="AUTOCOMMIT"
    )
    try:
        async with engine.connect() as conn:
            return await repo.claim_due(conn, batch=10, lease=timedelta(seconds=30), per_target=32)
    finally:
        await engine.dispose()


async def test_a_bulk_retry_leaves_a_delivery_whose_attempt_is_under_way_to_that_attempt(
    admin: Api, receiver: Receiver, database_url: str, db: asyncpg.Connection
) -> None:
    """Paused while its attempt was under way (failed, its lease kept), then on again: a
    bulk retry made it due at once, and another relay sent it a second time beside the
    first attempt, whose outcome was then dropped. One retry is a 409 in that case."""
    await grid_districts(admin)
    hook = await subscribe(admin, receiver.url, ["call.created"])
    since = datetime.now(UTC) - timedelta(minutes=1)
    await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    [under_way] = await _claimed(database_url)
    for active in (False, True):
        await admin.ok("PATCH", f"/v1/webhooks/{hook['id']}", {"active": active}, 200)
    retry = f"/v1/webhooks/{hook['id']}/deliveries/retry"
    answer = await admin.ok("POST", retry, {"since": since.isoformat()}, 200)
    assert answer == {"requeued": 0}
    row = await db.fetchrow("SELECT status, lease_until FROM webhook_delivery")
    assert (row["status"], row["lease_until"]) == ("failed", under_way.lease_until)
    # A lease run out is a relay gone: nothing is under way, and the retry takes it.
    await db.execute("UPDATE webhook_delivery SET lease_until = now() - interval '1 minute'")
    answer = await admin.ok("POST", retry, {"since": since.isoformat()}, 200)
    assert answer == {"requeued": 1}


async def test_a_pause_counts_the_failure_of_a_delivery_whose_relay_is_gone(
    admin: Api, receiver: Receiver, database_url: str, db: asyncpg.Connection
) -> None:
    """Left leased by a relay killed mid-attempt, it is nobody's attempt: the pause counts
    its failure (none would, else); one whose lease still runs is its relay's to count."""
    await grid_districts(admin)
    hook = await subscribe(admin, receiver.url, ["call.created"])
    for _ in range(2):
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    gone, _running = await _claimed(database_url)
    await db.execute(
        "UPDATE webhook_delivery SET lease_until = now() - interval '1 minute' WHERE id = $1",
        gone.id,
    )
    before = failed_deliveries_counted()
    await admin.ok("PATCH", f"/v1/webhooks/{hook['id']}", {"active": False}, 200)
    assert failed_deliveries_counted() - before == 1
