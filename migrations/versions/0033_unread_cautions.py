"""A call counts the cautions of its EIDO that raised no safety flag

A CAD's caution in words the service did not know ("Officer Safety: armed and dangerous")
raised no flag and said nothing: a mental-health lead was recommended to it with nothing
shown. A caution that raises no flag is now told in the call's notes, and
`unread_cautions` makes each recommendation of the call warn of it
(`caution_not_read`, docs/routing.md). Adding a column with a constant default rewrites
nothing: a moment under the table's lock.

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-07 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "call",
        sa.Column("unread_cautions", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("call", "unread_cautions")
