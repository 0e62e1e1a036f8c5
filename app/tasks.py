"""Background tasks stopped for certain.

A cancellation can be lost on CPython 3.11: one that reaches a task as the operation it
awaits completes may be swallowed on the way (asyncio.wait_for, gh-86296, fixed in 3.12; or
a library that catches it and goes on). The task then runs on, a housekeeping job into its
next sleep of up to a day, and whatever awaits it waits as long: a service's shutdown
hung on the alerts job in CI. So a task that carries on is cancelled again until it ends.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

# How long a cancelled task has to end before it is cancelled again; after how many rounds
# that is logged (a task that swallows every cancellation would otherwise go unseen).
RECANCEL_AFTER = 0.5
WARN_AFTER_ROUNDS = 10

log = logging.getLogger(__name__)


async def cancel_and_wait(*tasks: asyncio.Task[Any]) -> None:
    """Cancel the tasks and wait until every one has ended, cancelling again any that is
    still running after RECANCEL_AFTER seconds. Then raise the first failure (other than
    the cancellation) of any of them, as awaiting it would have."""
    running = {task for task in tasks if not task.done()}
    rounds = 0
    while running:
        for task in running:
            task.cancel()
        _, running = await asyncio.wait(running, timeout=RECANCEL_AFTER)
        rounds += 1
        if running and rounds == WARN_AFTER_ROUNDS:
            log.warning(
                "tasks still running after being cancelled %d times; cancelling them again",
                rounds,
                extra={"tasks": sorted(task.get_name() for task in running)},
            )
    for task in tasks:
        if not task.cancelled() and (failure := task.exception()) is not None:
            raise failure
