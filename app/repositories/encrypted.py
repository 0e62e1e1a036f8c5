"""SQL for re-encrypting the encrypted columns (the `rekey` command)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.encryption import (
    CALL_EIDO_NOTES_DIGEST,
    CALL_NOTES,
    SUBSCRIPTION_PREVIOUS_SECRET,
    SUBSCRIPTION_SECRET,
)

# Rows whose value is not under the current key, in id order after a cursor.
_STALE = {
    CALL_NOTES: text(
        "SELECT id, notes AS value FROM call"
        " WHERE id > :after AND notes IS NOT NULL AND NOT starts_with(notes, :current)"
        " ORDER BY id LIMIT :limit"
    ),
    CALL_EIDO_NOTES_DIGEST: text(
        "SELECT id, eido_notes_digest AS value FROM call"
        " WHERE id > :after AND eido_notes_digest IS NOT NULL"
        " AND NOT starts_with(eido_notes_digest, :current)"
        " ORDER BY id LIMIT :limit"
    ),
    SUBSCRIPTION_SECRET: text(
        "SELECT id, secret AS value FROM webhook_subscription"
        " WHERE id > :after AND NOT starts_with(secret, :current)"
        " ORDER BY id LIMIT :limit"
    ),
    SUBSCRIPTION_PREVIOUS_SECRET: text(
        "SELECT id, previous_secret AS value FROM webhook_subscription"
        " WHERE id > :after AND previous_secret IS NOT NULL"
        " AND NOT starts_with(previous_secret, :current)"
        " ORDER BY id LIMIT :limit"
    ),
}
# Compare-and-set: a value changed meanwhile (e.g. a PATCH) is left as the writer left it.
_REPLACE = {
    CALL_NOTES: text("UPDATE call SET notes = :new WHERE id = :id AND notes = :old"),
    CALL_EIDO_NOTES_DIGEST: text(
        "UPDATE call SET eido_notes_digest = :new WHERE id = :id AND eido_notes_digest = :old"
    ),
    SUBSCRIPTION_SECRET: text(
        "UPDATE webhook_subscription SET secret = :new WHERE id = :id AND secret = :old"
    ),
    SUBSCRIPTION_PREVIOUS_SECRET: text(
        "UPDATE webhook_subscription SET previous_secret = :new"
        " WHERE id = :id AND previous_secret = :old"
    ),
}
COLUMNS = tuple(_STALE)


async def stale_values(
    conn: AsyncConnection, column: str, *, current_prefix: str, after: UUID, limit: int
) -> list[Row[Any]]:
    """Up to limit (id, value) rows of column not encrypted under the current key."""
    params = {"current": current_prefix, "after": after, "limit": limit}
    return list((await conn.execute(_STALE[column], params)).all())


async def replace_value(
    conn: AsyncConnection, column: str, *, row_id: UUID, old: str, new: str
) -> bool:
    """Store new in place of old; False when the row changed (or went) meanwhile."""
    result = await conn.execute(_REPLACE[column], {"id": row_id, "old": old, "new": new})
    return bool(result.rowcount)
