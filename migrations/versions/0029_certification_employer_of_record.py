"""Who may record a person's certifications: not an agency another one employs them before

SPEC §3.2 lets any agency that employs or has employed the person record a certification,
and every agency employing them routes by it. An agency "employs" whoever it puts on its
roster, so another agency could enter someone else's officer (by mistake, a mistyped state
id, or not) and make them CIT on that officer's own agency's armed calls, which could not
correct the record (the security review). The service now refuses a certification, or a
correction that makes one count for more days, while another agency has employed the
person, actively, since before the recording agency's own active post (or the recording
agency has none): cit_employed_first_elsewhere answers that, reaching the other agencies'
officers, which row-level security hides from cit_app, and telling nothing but yes or no.

An officer's post is dated by `active_since`: set as the officer is created, and again as
one is reactivated (app/services/roster.py). Rows written before take their creation's
time: when an officer was reactivated before is not known.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-04 23:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "cit_app"

_EMPLOYED_FIRST_ELSEWHERE = """
CREATE FUNCTION cit_employed_first_elsewhere(person text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT EXISTS (
        SELECT 1 FROM officer theirs
         WHERE theirs.state_officer_id = person AND theirs.active
           AND theirs.agency_id <> cit_current_agency()
           AND NOT EXISTS (
               SELECT 1 FROM officer mine
                WHERE mine.state_officer_id = person AND mine.active
                  AND mine.agency_id = cit_current_agency()
                  AND mine.active_since <= theirs.active_since))
$$
"""


def upgrade() -> None:
    op.add_column(
        "officer",
        sa.Column(
            "active_since",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
    )
    op.execute("UPDATE officer SET active_since = created_at")
    op.execute(_EMPLOYED_FIRST_ELSEWHERE)
    op.execute("REVOKE ALL ON FUNCTION cit_employed_first_elsewhere(text) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION cit_employed_first_elsewhere(text) TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS cit_employed_first_elsewhere(text)")
    op.drop_column("officer", "active_since")
