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
    """Seconds from a Retry-After header (delta-seconds or HTTP-date); None for one that is
    neither, which the schedule alone then times."""
    value = (header or "").strip()
    if value.isascii() and value.isdigit():  # not str.isdigit alone: '²' is a digit to it
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        # The asctime form, and "-0000": an HTTP-date is always GMT (RFC 9110, 5.6.7).
        when = when.replace(tzinfo=UTC)
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
