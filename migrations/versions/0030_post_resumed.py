"""An officer reactivated resumes their post unless another agency took them on meanwhile

Migration 0029 dated an officer's post from its creation or its latest reactivation, and a
person's certifications are recorded by the agency whose active post is the older. A
roster sync that turned an officer off and on again (a leave of absence, a mistaken
separation) so dated their post anew, and handed the recording to any other agency that
also employs them (a reserve officer's second agency) or had entered them by mistake. Now
a reactivation keeps the post's start, unless another agency's post for the person (held
still or not) began after this one's separation: then they worked elsewhere and came back,
and their post here is new (app/services/roster.py). cit_taken_on_elsewhere_since answers that across agencies,
which row-level security hides from cit_app, with nothing but yes or no.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-05 01:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "cit_app"

_TAKEN_ON_ELSEWHERE_SINCE = """
CREATE FUNCTION cit_taken_on_elsewhere_since(person text, since timestamptz) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT EXISTS (
        SELECT 1 FROM officer theirs
         WHERE theirs.state_officer_id = person
           AND theirs.agency_id <> cit_current_agency()
           AND theirs.active_since > since)
$$
"""


def upgrade() -> None:
    op.execute(_TAKEN_ON_ELSEWHERE_SINCE)
    signature = "cit_taken_on_elsewhere_since(text, timestamptz)"
    op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS cit_taken_on_elsewhere_since(text, timestamptz)")
