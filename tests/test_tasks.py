"""Background tasks stop when told to, even one that loses a cancellation."""

from __future__ import annotations

import asyncio

import pytest

from app.tasks import cancel_and_wait


async def test_a_task_that_loses_a_cancellation_is_cancelled_again_until_it_ends() -> None:
    lost = 0

    async def loses_the_first() -> None:
        nonlocal lost
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:  # swallowed, as CPython 3.11's wait_for can
            lost += 1
        await asyncio.sleep(3600)  # on to the next round, as a housekeeping job would

    task = asyncio.create_task(loses_the_first())
    await asyncio.sleep(0)
    async with asyncio.timeout(30):  # without the second cancellation: an hour
        await cancel_and_wait(task)
    assert task.cancelled()
    assert lost == 1


async def test_every_task_ends_before_the_first_failure_is_raised() -> None:
    async def fails() -> None:
        raise LookupError("lost")

    async def runs() -> None:
        await asyncio.sleep(3600)

    failing, running = asyncio.create_task(fails()), asyncio.create_task(runs())
    await asyncio.sleep(0)
    with pytest.raises(LookupError, match="lost"):
        await cancel_and_wait(failing, running)
    assert running.cancelled()
    await cancel_and_wait()  # nothing to stop
