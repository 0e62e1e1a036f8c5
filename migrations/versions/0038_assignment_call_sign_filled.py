"""The assignments made before migration 0037 take the call sign their unit had then

The call sign of the shift that named their unit when they were made (the one begun last
by then, else its next one), as a dispatch takes it; NULL where the unit's shifts have all
been deleted since.

In a transaction of its own (migrations run one per transaction), after 0037's: no lock on
the whole table, only on the rows it fills in, and a row no shift names is not rewritten.
It fills in the assignments released before it began first, which no dispatch, clear or
status report writes again (as 0032 does): one pass over the table's rows, two probes of
ix_shift_responder_id each. Then the rest, those of units still on a call (and any
released meanwhile), in a lighter pass at the end: their row locks, which a clear, a
status report or a dispatch giving a unit another part waits for, are held from then to
the commit, not for the whole fill.

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-05 10:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0038"
down_revision: str | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The shift that named the unit at assigned_at: begun last by then, else its next one
# (app/repositories/naming_shift.py, as of this migration).
_FILL = """
UPDATE assignment SET call_sign = named.call_sign
FROM (
    SELECT a.id, (
        SELECT s.call_sign FROM (
            (SELECT worked.call_sign, 0 AS rank FROM shift worked
             WHERE worked.agency_id = a.agency_id
               AND worked.responder_id = a.responder_id
               AND worked.starts_at <= a.assigned_at
             ORDER BY worked.starts_at DESC
             LIMIT 1)
            UNION ALL
            (SELECT ahead.call_sign, 1 AS rank FROM shift ahead
             WHERE ahead.agency_id = a.agency_id
               AND ahead.responder_id = a.responder_id
               AND ahead.starts_at > a.assigned_at
             ORDER BY ahead.starts_at
             LIMIT 1)
        ) s
        ORDER BY s.rank
        LIMIT 1
    ) AS call_sign
    FROM assignment a
    WHERE a.call_sign IS NULL{only}
) named
WHERE assignment.id = named.id AND named.call_sign IS NOT NULL"""


def upgrade() -> None:
    op.execute(_FILL.format(only=" AND a.released_at IS NOT NULL"))
    op.execute(_FILL.format(only=""))


def downgrade() -> None:
    """What was filled in stays: 0037's downgrade drops the column."""
