"""An assignment remembers the status its unit was released into

A unit leaves a call by reporting `available` or `out_of_service`, or when the call is
cleared (available again). The EIDO export showed every released unit as `Available`, a
unit that left out of service included, and a receiving CAD took it as free to dispatch.
`released_status` keeps what the release said, so the export tells it (docs/api.md, "EIDO").
The unit's current status is no answer: it may be on another call since.

This migration only adds the column and its checks, NOT VALID, in a moment: the table's
ACCESS EXCLUSIVE lock is held to the end of its transaction, and a backfill here held
every dispatch, clear and status report for as long as it ran (16.7 s for 900,000
assignments, a review measured). Migration 0032 fills in the releases made before, in a
transaction of its own, and validates the checks.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-06 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# app/vocabulary.py, OFF_CALL: the statuses that release a unit.
_RELEASED_INTO = "released_status IN ('available', 'out_of_service')"
_RELEASED_ONLY = "released_status IS NULL OR released_at IS NOT NULL"


def upgrade() -> None:
    op.add_column("assignment", sa.Column("released_status", sa.Text(), nullable=True))
    for name, check in (("released_status", _RELEASED_INTO), ("released_only", _RELEASED_ONLY)):
        op.execute(
            f"ALTER TABLE assignment ADD CONSTRAINT ck_assignment_{name} CHECK ({check}) NOT VALID"
        )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_assignment_released_only"), "assignment", type_="check")
    op.drop_constraint(op.f("ck_assignment_released_status"), "assignment", type_="check")
    op.drop_column("assignment", "released_status")
