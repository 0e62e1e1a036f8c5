"""Which database failures are a lost connection (begin again, or a 503), and which are not.

Terminating the database's sessions under load (an outside-in check: pg_terminate_backend
eight times under 16 clients) gave a few 500s, each asyncpg refusing a pooled connection
whose server had ended it: its farewell read, its closed socket not yet. The race cannot
be staged on demand, so the classification is checked here on the errors asyncpg raises.
"""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from app.db.engine import create_engine
from app.db.failures import is_lost_connection, is_timeout, is_unavailable, went_unanswered

# The message asyncpg gives for that connection, as the service logged it.
REFUSED = "cannot switch to state 15; another operation (2) is in progress"


def test_a_connection_its_server_ended_is_lost_and_the_database_unavailable() -> None:
    error = asyncpg.InternalClientError(REFUSED)
    assert is_lost_connection(error)
    assert is_unavailable(error)
    # As SQLAlchemy wraps it, on the ORM's side of a request.
    assert is_lost_connection(sa_exc.DBAPIError("BEGIN", None, error))


def test_asyncpgs_other_client_errors_are_not_a_lost_connection() -> None:
    stale = asyncpg.exceptions.OutdatedSchemaCacheError(
        "cached statement plan is invalid", schema="public", data_type="t", position="0"
    )
    # Raised after a statement may have run (a COMMIT that landed): not "retry".
    after = asyncpg.exceptions.ProtocolError("unknown error in protocol implementation")
    encoder = asyncpg.InternalClientError("no binary format encoder for type widget")
    for error in (stale, after, encoder, ValueError("a bug of ours")):
        assert not is_lost_connection(error), error
        assert not is_unavailable(error), error


async def test_a_failed_statement_names_none_of_its_parameters(database_url: str) -> None:
    """A 500 logs its exception, which gave the statement's parameters: a caller's address
    or a subject's details in the log, where the README says none are written."""
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            with pytest.raises(sa_exc.DBAPIError) as failed:
                await conn.execute(text("SELECT CAST(:v AS text), 1 / 0"), {"v": "12 Main St"})
    finally:
        await engine.dispose()
    assert "division by zero" in str(failed.value)
    assert "12 Main St" not in str(failed.value)


def test_a_statement_out_of_time_is_unavailable_and_no_lost_connection() -> None:
    """TimeoutError is an OSError: it was taken for a lost connection, and the unit of work
    began again on a new one, waiting on the same frozen server as long again (5 s)."""
    unanswered = TimeoutError()
    assert is_unavailable(unanswered)
    assert is_timeout(unanswered)
    assert went_unanswered(unanswered)
    assert not is_lost_connection(unanswered)
    # Cancelled by the server at its statement_timeout: the connection is fine.
    cancelled = asyncpg.QueryCanceledError("canceling statement due to statement timeout")
    assert is_unavailable(cancelled)
    assert is_timeout(cancelled)
    assert not went_unanswered(cancelled)
    assert not is_lost_connection(cancelled)


def _replacing(*, suppress: bool) -> None:
    """Raise a ValueError while handling a TimeoutError: `from None`, or plainly."""
    try:
        raise TimeoutError
    except TimeoutError:
        if suppress:
            raise ValueError("the resolver did not answer") from None
        raise ValueError("while it failed")  # noqa: B904


def test_an_error_raised_from_none_is_not_classified_by_what_it_replaced() -> None:
    """`raise … from None` says the error it replaced is not its cause: a webhook URL's
    lookup that timed out (a 503 of its own) made the unit of work abandon a healthy
    database connection (review r4)."""
    with pytest.raises(ValueError, match="resolver") as replaced:
        _replacing(suppress=True)
    assert not went_unanswered(replaced.value)
    assert not is_timeout(replaced.value)
    # Raised while handling it, without `from`: the context is kept, as Python shows it.
    with pytest.raises(ValueError, match="while it failed") as during:
        _replacing(suppress=False)
    assert went_unanswered(during.value)
