"""A 2xx is never sent for a write whose commit failed: the commit precedes the response."""

from __future__ import annotations

from collections.abc import Iterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.orm import Session

from tests.helpers import Api


class CommitRefused(Exception):
    pass


def _refuse(session: Session) -> None:
    raise CommitRefused


@pytest.fixture
def failing_commits() -> Iterator[None]:
    event.listen(Session, "before_commit", _refuse)
    try:
        yield
    finally:
        event.remove(Session, "before_commit", _refuse)


async def test_failed_commit_answers_an_error_and_stores_nothing(
    app: FastAPI, admin: Api, db: asyncpg.Connection, failing_commits: None
) -> None:
    # Like a real server, the client gets the response even though the app re-raises.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://cit.test") as client:
        response = await client.post(
            "/v1/districts", json={"code": "D1", "name": "never stored"}, headers=admin.headers
        )
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "CommitRefused" not in response.text
    assert await db.fetchval("SELECT count(*) FROM district") == 0
