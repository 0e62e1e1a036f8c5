"""Units busy on the CAD's own incidents: `external_incident` on officers and co-responders

A CAD may report a unit dispatched, en route, on scene or transporting on an incident that
cit-dispatch does not handle (a traffic stop, a burglary). The unit is then busy, with no
cit-dispatch call, and `external_incident` names the CAD's incident (up to 64 characters).
It is cleared when the unit is back in service.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("officer", "co_responder")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("external_incident", sa.Text(), nullable=True))
        op.create_check_constraint(
            op.f(f"ck_{table}_external_incident"),
            table,
            "char_length(external_incident) BETWEEN 1 AND 64",
        )


def downgrade() -> None:
    for table in TABLES:
        op.drop_constraint(op.f(f"ck_{table}_external_incident"), table, type_="check")
        op.drop_column(table, "external_incident")
