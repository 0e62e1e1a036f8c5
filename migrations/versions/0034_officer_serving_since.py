"""An officer keeps when their latest period of service began

A shift is refused for a responder no longer active, and a coordinator writing up last
month's roster late could not enter a shift an officer worked before leaving: the
coverage report then showed a CIT gap for every such shift. A past shift may now be
entered for an officer who has left when it lies wholly within the period they last
served (app/services/shift_standing.py): from `serving_since` to `separated_at`.

`active_since` cannot say when that period began: it dates the post, and a reactivated
officer resumes their post (migration 0030), so for an officer away on leave and back it
is the start of the post, before the leave. `serving_since` is set as the officer is
created active (NULL when created inactive: never served) and again at every
reactivation, whether the post resumes or not (app/services/roster.py).

When it began for the officers already on record is not known here: every row takes the
time of this migration (the default is evaluated once, so the table is not rewritten
under its ACCESS EXCLUSIVE lock), which claims no service before now. Migration 0035 puts
NULL for the officers who have left, and fills in what the audit trail tells, in a
transaction of its own.

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-07 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "officer",
        sa.Column(
            "serving_since",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=True,
        ),
    )


def downgrade() -> None:
    op.drop_column("officer", "serving_since")
