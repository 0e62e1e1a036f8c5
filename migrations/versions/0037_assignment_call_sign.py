"""Each assignment keeps the call sign its unit was dispatched under

A call's `assignments` named each unit by its id alone: a dispatcher reading who is on a
call, or who was on one last week, had to look each id up on the units board, which shows
the call signs of today's shifts only. An assignment now keeps the call sign of the shift
that named its unit when it was dispatched (the one sent in its `unit.assigned`), and
`GET /v1/calls/{id}` shows it.

This migration only adds the column, in a moment: the table's ACCESS EXCLUSIVE lock is held
to the end of its transaction, and filling it in here held every read of a call's units,
every dispatch, clear and status report for as long as the fill ran (as 0031's backfill
did). Migration 0038 fills in the assignments made before, in a transaction of its own.

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


def upgrade() -> None:
    op.add_column("assignment", sa.Column("call_sign", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("assignment", "call_sign")
