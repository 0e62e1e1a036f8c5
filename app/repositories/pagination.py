"""Keyset pagination over time-ordered UUID primary keys."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy import Row, Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.errors import Invalid

T = TypeVar("T")
R = TypeVar("R")


def encode_cursor(last_id: UUID) -> str:
    return base64.urlsafe_b64encode(last_id.bytes).decode().rstrip("=")


def decode_cursor(cursor: str) -> UUID:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return UUID(bytes=raw)
    except (binascii.Error, ValueError):
        raise Invalid("cursor is not one this service returned", loc=("query", "cursor")) from None


async def fetch_page(
    session: AsyncSession,
    stmt: Select[T],
    id_column: InstrumentedAttribute[UUID],
    *,
    limit: int,
    cursor: str | None,
    newest_first: bool = False,
) -> tuple[Sequence[T], str | None]:
    """Run stmt (one ORM entity) for one page; the next cursor is None on the last page."""
    result = await session.execute(_paged(stmt, id_column, limit, cursor, newest_first))
    return _page(result.scalars().all(), id_column, limit)


async def fetch_row_page(
    session: AsyncSession,
    stmt: Select[Any],
    id_column: InstrumentedAttribute[UUID],
    *,
    limit: int,
    cursor: str | None,
    newest_first: bool = False,
) -> tuple[Sequence[Row[Any]], str | None]:
    """Run stmt for one page of rows (they must have an `id`); as fetch_page."""
    result = await session.execute(_paged(stmt, id_column, limit, cursor, newest_first))
    return _page(result.all(), id_column, limit)


def _paged(
    stmt: Select[Any],
    id_column: InstrumentedAttribute[UUID],
    limit: int,
    cursor: str | None,
    newest_first: bool,
) -> Select[Any]:
    if cursor is not None:
        after = decode_cursor(cursor)
        stmt = stmt.where(id_column < after if newest_first else id_column > after)
    order: Any = id_column.desc() if newest_first else id_column.asc()
    return stmt.order_by(order).limit(limit + 1)


def _page(
    rows: Sequence[R], id_column: InstrumentedAttribute[UUID], limit: int
) -> tuple[Sequence[R], str | None]:
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, encode_cursor(getattr(rows[-1], id_column.key))
    return rows, None
