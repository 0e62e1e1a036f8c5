"""When a failed webhook attempt is tried again: CIT_WEBHOOK_RETRY_SCHEDULE, with jitter,
and no sooner than the receiver's Retry-After asks (up to MAX_RETRY_AFTER)."""

from __future__ import annotations

import email.utils
import random
from datetime import UTC, datetime, timedelta

MAX_RETRY_AFTER = timedelta(hours=24)


def parse_schedule(value: str) -> list[float]:
    """CIT_WEBHOOK_RETRY_SCHEDULE: seconds before each retry; N entries give N+1 attempts."""
    return [float(part) for part in value.split(",") if part.strip()]


def retry_after(header: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date)."""
    if not header:
        return None
    if header.strip().isdigit():
        return float(header.strip())
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def next_delay(schedule: list[float], attempts_made: int, wait_hint: float | None) -> float | None:
    """Seconds before the next attempt, or None when the schedule is spent (the delivery
    fails)."""
    if attempts_made > len(schedule):
        return None
    delay = schedule[attempts_made - 1] * (1 + random.uniform(0, 0.1))
    if wait_hint is not None:
        delay = max(delay, min(wait_hint, MAX_RETRY_AFTER.total_seconds()))
    return delay
