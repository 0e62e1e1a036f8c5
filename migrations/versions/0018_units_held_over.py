"""Index the units busy on a call, so GET /v1/units finds those held over past their shift

A unit whose call outlasts its shift stays on the consoles until released. The read model
finds such units among the agency's responders busy on a call (cit-dispatch's or a CAD's):
a handful at any time, found by these partial indexes instead of a scan of every officer
(20,000 in the largest agencies) on each read.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 22:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As app.models.responder.BUSY, written out: a migration keeps what it meant when written.
BUSY = "active_call_id IS NOT NULL OR external_incident IS NOT NULL"


def upgrade() -> None:
    for table in ("officer", "co_responder"):
        op.create_index(f"ix_{table}_busy", table, ["agency_id"], postgresql_where=sa.text(BUSY))


def downgrade() -> None:
    for table in ("officer", "co_responder"):
        op.drop_index(f"ix_{table}_busy", table_name=table)
