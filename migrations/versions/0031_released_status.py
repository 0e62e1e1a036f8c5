"""An assignment remembers the status its unit was released into

A unit leaves a call by reporting `available` or `out_of_service`, or when the call is
cleared (available again). The EIDO export showed every released unit as `Available`, a
unit that left out of service included, and a receiving CAD took it as free to dispatch.
`released_status` keeps what the release said, so the export tells it (docs/api.md, "EIDO").
The unit's current status is no answer: it may be on another call since.

The assignments released before it are filled in where the release is known: those
released as their call was cleared (the clear's own time) were made available; the others
take the status of their `unit.released` event, if it is still kept (30 days by default).
The rest stay NULL: not recorded, and the export shows them as it did.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-06 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# app/vocabulary.py, OFF_CALL: the statuses that release a unit.
_RELEASED_INTO = "released_status IN ('available', 'out_of_service')"
_RELEASED_ONLY = "released_status IS NULL OR released_at IS NOT NULL"

_BY_THE_CLEAR = """
UPDATE assignment a SET released_status = 'available'
FROM call c
WHERE c.id = a.call_id AND a.released_at IS NOT NULL AND a.released_at = c.cleared_at
"""
# An event and the release it reports are written with one time (app/services/unit_status.py).
_BY_THE_EVENT = """
UPDATE assignment a SET released_status = e.payload->>'status'
FROM event e
WHERE e.type = 'unit.released' AND e.call_id = a.call_id AND e.responder_id = a.responder_id
  AND e.created_at = a.released_at AND a.released_status IS NULL
  AND e.payload->>'status' IN ('available', 'out_of_service')
"""


def upgrade() -> None:
    op.add_column("assignment", sa.Column("released_status", sa.Text(), nullable=True))
    op.create_check_constraint(op.f("ck_assignment_released_status"), "assignment", _RELEASED_INTO)
    op.create_check_constraint(op.f("ck_assignment_released_only"), "assignment", _RELEASED_ONLY)
    op.execute(_BY_THE_CLEAR)
    op.execute(_BY_THE_EVENT)


def downgrade() -> None:
    op.drop_constraint(op.f("ck_assignment_released_only"), "assignment", type_="check")
    op.drop_constraint(op.f("ck_assignment_released_status"), "assignment", type_="check")
    op.drop_column("assignment", "released_status")
