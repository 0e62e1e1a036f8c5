"""A shift's overlap check reads only the responder's shifts that could overlap it

The shift_no_overlap trigger (migration 0001) looked for an overlapping shift among every
shift the responder ever worked: on each shift written (POST /v1/shifts, its bulk form,
PATCH), its index scan of (responder_id, starts_at) read the responder's whole history,
93 rows and pages at 90 days, a year's in time. A shift lasts at most 24 hours (the check
constraint ck_shift_at_most_24h), so one that overlaps the new shift began less than a day
before it: the scan now starts there. The answers are the same.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-03 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Migration 0001's function, with {bound} on the scan of the responder's shifts.
_SHIFT_NO_OVERLAP = """
CREATE OR REPLACE FUNCTION shift_no_overlap() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    who uuid := coalesce(NEW.officer_id, NEW.co_responder_id);
BEGIN
    IF NEW.officer_id IS NOT NULL THEN
        PERFORM 1 FROM officer WHERE id = NEW.officer_id FOR NO KEY UPDATE;
    ELSE
        PERFORM 1 FROM co_responder WHERE id = NEW.co_responder_id FOR NO KEY UPDATE;
    END IF;
    IF EXISTS (
        SELECT 1 FROM shift s
        WHERE s.responder_id = who AND s.id <> NEW.id
          AND s.starts_at < NEW.ends_at AND s.ends_at > NEW.starts_at{bound}
    ) THEN
        RAISE EXCEPTION 'responder % already has a shift overlapping % to %',
            who, NEW.starts_at, NEW.ends_at
            USING ERRCODE = 'exclusion_violation', CONSTRAINT = 'shift_no_overlap';
    END IF;
    RETURN NEW;
END;
$$
"""


def upgrade() -> None:
    op.execute(
        _SHIFT_NO_OVERLAP.replace(
            "{bound}", "\n          AND s.starts_at > NEW.starts_at - interval '24 hours'"
        )
    )


def downgrade() -> None:
    op.execute(_SHIFT_NO_OVERLAP.replace("{bound}", ""))
