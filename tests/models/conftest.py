"""A database of its own for each test that migrates one (tests/models)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import make_url

from app.db.engine import execute_alone


@pytest.fixture
def scratch_url(database_url: str) -> Iterator[str]:
    """An empty database on the tests' server, dropped after the test."""
    name = f"cit_mig_{secrets.token_hex(4)}"
    server = make_url(database_url)
    admin = server.render_as_string(hide_password=False)
    asyncio.run(execute_alone(admin, f'CREATE DATABASE "{name}"'))
    yield server.set(database=name).render_as_string(hide_password=False)
    asyncio.run(execute_alone(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
