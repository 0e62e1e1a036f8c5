"""The agency that recorded a certification may correct it, or end it early

PATCH /v1/certifications/{id} (app/services/certifications.py) changes a certification's
dates, program or volunteered flag: a decertification sets expires_on to the day it took
effect. cit_app gets UPDATE on those columns only (whose it is, its number and who recorded
it never change), and a restrictive policy lets it update only the rows its agency recorded:
another agency's record, which it may read, is never changed by it, whatever the service
checks. certification_to_coverage (migration 0003) already follows updates into the
candidate query's read model; it now first locks the person's officer rows FOR SHARE. A
shift being changed or made holds its officer's row (app/repositories/shifts.py, the
overlap trigger) until it commits its coverage rows, whose new ones read the periods as
they were: the certification's update then waits, and finds them, instead of updating only
the rows it could see and leaving the new ones with the periods from before.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 02:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "cit_app"
DEFINER = "SECURITY DEFINER SET search_path = public, pg_temp"

_TO_COVERAGE = """
CREATE OR REPLACE FUNCTION certification_to_coverage() RETURNS trigger
LANGUAGE plpgsql {definer} AS $$
DECLARE
    person text := coalesce(NEW.state_officer_id, OLD.state_officer_id);
BEGIN
    {lock}UPDATE shift_coverage sc
       SET cit_periods = cit_periods_of(person)
     WHERE sc.responder_type = 'officer' AND sc.ends_at > now()
       AND sc.responder_id IN (SELECT o.id FROM officer o WHERE o.state_officer_id = person);
    RETURN NULL;
END;
$$
"""
_LOCK = "PERFORM 1 FROM officer o WHERE o.state_officer_id = person ORDER BY o.id FOR SHARE;\n    "


def upgrade() -> None:
    op.execute(_TO_COVERAGE.format(definer=DEFINER, lock=_LOCK))
    op.execute(
        "GRANT UPDATE (certified_on, expires_on, program, volunteered) ON certification"
        f" TO {APP_ROLE}"
    )
    op.execute(
        f"CREATE POLICY cit_recorder ON certification AS RESTRICTIVE FOR UPDATE TO {APP_ROLE}"
        " USING (recorded_by_agency_id = cit_current_agency())"
    )


def downgrade() -> None:
    op.execute(_TO_COVERAGE.format(definer=DEFINER, lock=""))
    op.execute("DROP POLICY IF EXISTS cit_recorder ON certification")
    op.execute(
        "REVOKE UPDATE (certified_on, expires_on, program, volunteered) ON certification"
        f" FROM {APP_ROLE}"
    )
