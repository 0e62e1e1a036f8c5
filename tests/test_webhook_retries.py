"""How long a receiver's Retry-After asks the relay to wait, in each form a receiver sends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from app.webhooks.retries import retry_after


def test_delta_seconds_are_read_as_sent() -> None:
    assert retry_after("120") == 120.0
    assert retry_after(" 7 ") == 7.0
    assert retry_after("0") == 0.0


@pytest.mark.parametrize(
    "form",
    [
        "%a, %d %b %Y %H:%M:%S GMT",  # IMF-fixdate, the one to send
        "%A, %d-%b-%y %H:%M:%S GMT",  # RFC 850, obsolete but to be read
        "%a %b %e %H:%M:%S %Y",  # asctime: no zone, GMT all the same
        "%a, %d %b %Y %H:%M:%S -0000",  # a zone of "unknown": read as GMT
    ],
)
def test_an_http_date_in_any_form_is_the_time_until_it(form: str) -> None:
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=10)
    waited = retry_after(later.strftime(form))
    assert waited is not None
    assert 590 < waited <= 600
    # One past is no wait at all.
    assert retry_after(format_datetime(later - timedelta(hours=1), usegmt=True)) == 0.0


@pytest.mark.parametrize(
    "header",
    [None, "", "soon", "1.5", "-3", "²", "٣", "Mon, 99 Nov 2030 08:49:37 GMT", "30 s"],
)
def test_a_header_that_is_neither_form_leaves_the_schedule_alone(header: str | None) -> None:
    assert retry_after(header) is None
