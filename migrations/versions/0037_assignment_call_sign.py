"""Each assignment keeps the call sign its unit was dispatched under

A call's `assignments` named each unit by its id alone: a dispatcher reading who is on a
call, or who was on one last week, had to look each id up on the units board, which shows
the call signs of today's shifts only. An assignment now keeps the call sign of the shift
that named its unit when it was dispatched (the one sent in its `unit.assigned`), and
`GET /v1/calls/{id}` shows it.

Assignments made before this migration take the call sign of the shift that named their
unit when they were made (the one begun last by then, else its next one), as the dispatch
did; NULL where the unit's shifts have all been deleted since. Adding the column rewrites
nothing; filling it is one pass over the table's rows.

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-05 10:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0037"
down_revision: str | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The shift that named the unit at assigned_at: begun last by then, else its next one
# (app/repositories/naming_shift.py, as of this migration).
_FILL = """
UPDATE assignment SET call_sign = (
    SELECT s.call_sign FROM (
        (SELECT worked.call_sign, 0 AS rank FROM shift worked
         WHERE worked.agency_id = assignment.agency_id
           AND worked.responder_id = assignment.responder_id
           AND worked.starts_at <= assignment.assigned_at
         ORDER BY worked.starts_at DESC
         LIMIT 1)
        UNION ALL
        (SELECT ahead.call_sign, 1 AS rank FROM shift ahead
         WHERE ahead.agency_id = assignment.agency_id
           AND ahead.responder_id = assignment.responder_id
           AND ahead.starts_at > assignment.assigned_at
         ORDER BY ahead.starts_at
         LIMIT 1)
    ) s
    ORDER BY s.rank
    LIMIT 1
)"""


def upgrade() -> None:
    op.add_column("assignment", sa.Column("call_sign", sa.Text(), nullable=True))
    op.execute(_FILL)


def downgrade() -> None:
    op.drop_column("assignment", "call_sign")
