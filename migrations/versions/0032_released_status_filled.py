"""The releases made before migration 0031 take the status they left their unit in

Where that is known: the release's `unit.released` event, if it is still kept (30 days by
default), says it; a release with none, made as its call was cleared (the clear's own
time), made its unit available. The event is read first: a unit that reported out of
service at the very instant its call was cleared left out of service. The rest stay NULL:
not recorded, and the EIDO export shows them as it did (docs/api.md, "EIDO").

In a transaction of its own (migrations run one per transaction), after 0031's: the
updates lock only the rows they fill in, all released long ago, which no dispatch, clear
or status report writes again; then the checks 0031 added NOT VALID are validated, under
a lock that lets writes go on.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-06 09:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# An event and the release it reports are written with one time (app/services/unit_status.py).
# The event's status is the one the release recorded: it also corrects a row an earlier
# build of 0031 filled in from the clear before reading the events.
_BY_THE_EVENT = """
UPDATE assignment a SET released_status = e.payload->>'status'
FROM event e
WHERE e.type = 'unit.released' AND e.call_id = a.call_id AND e.responder_id = a.responder_id
  AND e.created_at = a.released_at
  AND a.released_status IS DISTINCT FROM e.payload->>'status'
  AND e.payload->>'status' IN ('available', 'out_of_service')
"""
_BY_THE_CLEAR = """
UPDATE assignment a SET released_status = 'available'
FROM call c
WHERE c.id = a.call_id AND a.released_at IS NOT NULL AND a.released_at = c.cleared_at
  AND a.released_status IS NULL
"""


def upgrade() -> None:
    op.execute(_BY_THE_EVENT)
    op.execute(_BY_THE_CLEAR)
    op.execute("ALTER TABLE assignment VALIDATE CONSTRAINT ck_assignment_released_status")
    op.execute("ALTER TABLE assignment VALIDATE CONSTRAINT ck_assignment_released_only")


def downgrade() -> None:
    """What was filled in stays: 0031's downgrade drops the column."""
