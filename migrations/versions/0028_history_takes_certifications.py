"""A shift written up after it ended takes the person's certifications as they are now

A certification recorded, corrected or voided changed the coverage (shift_coverage's
cit_periods) of shifts current or ahead only, so that the coverage report shows the past as
dispatch worked from it (docs/reports.md). A shift entered after it had ended (an agency
writing up its history, as docs/reports.md tells it to) was never worked from: its
coverage now follows the person's certifications too, whenever they change. Before, an
agency that wrote up its roster before its certifications saw CIT gaps for every day of
its history, for good, while the outcome report counted the same officers as CIT (an
outside-in check). "Entered after it ended" is the shift service's own rule
(app/services/shifts.py, _entered_late: a minute's grace).

The rows of such shifts already written are brought up to date.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-04 20:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFINER = "SECURITY DEFINER SET search_path = public, pg_temp"
# Which of the person's coverage rows a change of their certifications reaches.
_REACHED = {
    "before": "sc.ends_at > now()",
    "after": "(sc.ends_at > now() OR EXISTS (SELECT 1 FROM shift s WHERE s.id = sc.shift_id"
    " AND s.created_at > s.ends_at + interval '1 minute'))",
}
# Migration 0020's function, with the rows it reaches as {reached}.
_TO_COVERAGE = """
CREATE OR REPLACE FUNCTION certification_to_coverage() RETURNS trigger
LANGUAGE plpgsql {definer} AS $$
DECLARE
    person text := coalesce(NEW.state_officer_id, OLD.state_officer_id);
BEGIN
    PERFORM 1 FROM officer o WHERE o.state_officer_id = person ORDER BY o.id FOR SHARE;
    UPDATE shift_coverage sc
       SET cit_periods = cit_periods_of(person)
     WHERE sc.responder_type = 'officer' AND {reached}
       AND sc.responder_id IN (SELECT o.id FROM officer o WHERE o.state_officer_id = person);
    RETURN NULL;
END;
$$
"""
_HISTORY = """
UPDATE shift_coverage sc SET cit_periods = cit_periods_of(o.state_officer_id)
FROM officer o, shift s
WHERE sc.responder_type = 'officer' AND sc.responder_id = o.id AND s.id = sc.shift_id
  AND s.created_at > s.ends_at + interval '1 minute' AND sc.ends_at <= now()
  AND sc.cit_periods IS DISTINCT FROM cit_periods_of(o.state_officer_id)
"""


def upgrade() -> None:
    op.execute(_TO_COVERAGE.format(definer=DEFINER, reached=_REACHED["after"]))
    op.execute(_HISTORY)


def downgrade() -> None:
    op.execute(_TO_COVERAGE.format(definer=DEFINER, reached=_REACHED["before"]))
