"""What the log says when the database is down: one line for each thing the service goes
on without (an audit entry, a count), naming the error, not a traceback each; anything
else keeps its traceback, which a bug needs."""

from __future__ import annotations

import logging

import pytest

from app.db.engine import create_engine
from app.db.failures import log_failure
from app.services.audit import record_auth_failure
from tests.ports import free_port


async def test_a_failed_authentication_not_audited_in_an_outage_is_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Nothing listens there: the connection is refused, as a database down refuses it.
    engine = create_engine(f"postgresql://postgres@127.0.0.1:{free_port()}/cit")
    try:
        await record_auth_failure(engine, prefix="abcd1234", client="198.51.100.7", request_id="r")
    finally:
        await engine.dispose()
    [record] = [r for r in caplog.records if r.name == "app.services.audit"]
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        "could not audit a failed authentication: the database is unavailable"
    )
    assert record.exc_info is None
    # The driver's own error, not SQLAlchemy's wrapper quoting the statement.
    error = record.__dict__["error"]
    assert error.startswith(("ConnectionRefusedError", "OSError")), error
    assert "SQL" not in error


def test_a_failure_that_is_no_outage_keeps_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("tests.outage")
    found: dict[str, int] = {}
    try:
        found["missing"]  # a bug, as the service might have one
    except KeyError as exc:
        log_failure(log, "alerts failed", exc, {"agency_id": "a"})
    [record] = caplog.records
    assert record.getMessage() == "alerts failed"
    assert record.exc_info is not None
    assert record.exc_info[0] is KeyError
    assert record.__dict__["agency_id"] == "a"
    assert "error" not in record.__dict__
