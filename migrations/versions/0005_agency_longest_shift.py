"""Each agency records its longest shift, so the candidate scan reads only live shifts

The candidate query looks at shifts that started within the longest shift length before
now (at most 24 h). With 8- or 12-hour rosters that skips the shifts that already ended.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 03:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Only ever grows, so the window can never be too short for a shift that exists.
GROW = """
CREATE FUNCTION agency_longest_shift() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE agency SET longest_shift = NEW.ends_at - NEW.starts_at
     WHERE id = NEW.agency_id AND longest_shift < NEW.ends_at - NEW.starts_at;
    RETURN NULL;
END;
$$
"""


def upgrade() -> None:
    op.add_column(
        "agency",
        sa.Column("longest_shift", sa.Interval(), server_default="0", nullable=False),
    )
    op.execute(
        "UPDATE agency a SET longest_shift = coalesce("
        "(SELECT max(s.ends_at - s.starts_at) FROM shift s WHERE s.agency_id = a.id),"
        " interval '0')"
    )
    op.execute(GROW)
    op.execute(
        "CREATE TRIGGER agency_longest_shift AFTER INSERT OR UPDATE ON shift"
        " FOR EACH ROW EXECUTE FUNCTION agency_longest_shift()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS agency_longest_shift ON shift")
    op.execute("DROP FUNCTION IF EXISTS agency_longest_shift()")
    op.drop_column("agency", "longest_shift")
