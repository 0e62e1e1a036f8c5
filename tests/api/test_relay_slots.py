"""A relay whose slots are full claims again as soon as one frees, not at its next poll.

Claims are gathered under load (Relay._gather) and a finished attempt wakes the relay only
when a limit held deliveries back: these tests keep that wake-up honest."""

from __future__ import annotations

import asyncio

import pytest

from app.db.engine import create_engine
from app.encryption import load_cipher
from app.settings import Settings
from app.webhooks.relay import Relay
from tests.helpers import Api, grid_districts
from tests.receiver import Receiver


@pytest.mark.parametrize(
    ("per_target", "max_in_flight"),
    [pytest.param(1, 256, id="per-receiver"), pytest.param(32, 1, id="in-all")],
)
async def test_a_freed_slot_claims_the_next_due_delivery_without_waiting_for_the_poll(
    admin: Api,
    receiver: Receiver,
    database_url: str,
    settings: Settings,
    per_target: int,
    max_in_flight: int,
) -> None:
    await grid_districts(admin)
    await admin.ok("POST", "/v1/webhooks", {"url": receiver.url, "events": ["call.created"]}, 201)
    for _ in range(3):
        await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    engine = create_engine(database_url, pool_size=2)
    # An hour's poll, and nothing is committed while it runs: only a freed slot can wake
    # it for the second and third deliveries.
    relay = Relay(
        engine,
        settings,
        load_cipher(settings),
        poll_seconds=3600,
        per_target=per_target,
        max_in_flight=max_in_flight,
    )
    task = asyncio.create_task(relay.run())
    try:
        arrived = await receiver.wait_for(3, within=10)
    finally:
        relay.stop()
        await task
        await engine.dispose()
    assert len({a.headers["webhook-id"] for a in arrived}) == 3


async def test_a_retry_is_sent_when_it_is_due_not_at_the_next_poll(
    admin: Api, receiver: Receiver, database_url: str, settings: Settings
) -> None:
    """SPEC §3.5: the schedule's delay before each retry, with up to 10 % of jitter; a
    relay polling each second sent retries up to a second late."""
    receiver.script = [500]
    await grid_districts(admin)
    await admin.ok("POST", "/v1/webhooks", {"url": receiver.url, "events": ["call.created"]}, 201)
    await admin.ok("POST", "/v1/calls", {"district": "D1"}, 201)
    engine = create_engine(database_url, pool_size=2)
    # An hour's poll: only the retry's own time can wake the relay for it.
    relay = Relay(
        engine,
        settings.model_copy(update={"webhook_retry_schedule": "1"}),
        load_cipher(settings),
        poll_seconds=3600,
    )
    task = asyncio.create_task(relay.run())
    try:
        await receiver.wait_for(1, within=10)
        first = asyncio.get_running_loop().time()
        await receiver.wait_for(2, within=5)
        gap = asyncio.get_running_loop().time() - first
    finally:
        relay.stop()
        await task
        await engine.dispose()
    assert gap >= 0.95, gap  # not before its time
