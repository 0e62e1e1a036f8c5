"""A call keeps whether the last EIDO applied to it said its incident was ReOpened

A document saying ReOpened for a cleared call is refused (409) as news since 6981a64:
the CAD took up an incident that had ended. But a CAD that reopened an incident before
its call reached this service says ReOpened on every update after: once a dispatcher
cleared the call here, each of them was a 409 saying the CAD reopened it, which it had
not done since. ReOpened is news to a cleared call only when the last document applied
to it did not say so already (docs/api.md, "EIDO"). False for every call imported before
this migration, whose ReOpened is news as it was under 6981a64. Adding a column with a
constant default rewrites nothing: a moment under the table's lock.

Revision ID: 0039
Revises: 0038
Create Date: 2026-12-05 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0039"
down_revision: str | None = "0038"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "call",
        sa.Column("eido_reopened", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("call", "eido_reopened")
