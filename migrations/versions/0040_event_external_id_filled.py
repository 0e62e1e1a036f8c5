"""The events written before external_id joined their payload take their call's

`recommendation.created`, `unit.released` and `unit.status_changed` carry the call's
`external_id` (the CAD's number for it) since ae96b18, b0f4b6d and d6d2f6b, and the
document of their payloads lists it as required. The relay reads an event's payload when
it sends it, and the live feed when it replays it: without this, deliveries pending at the
upgrade, their retries, and a feed resumed from before it (up to the events' retention,
30 days by default) would send those events without it, and a receiver checking the
payload against its schema would refuse them. Each takes its call's external_id (null
when the call has none, and for a unit's status report off any call). The other events
carried it from the first.

One pass over the event table (no index narrows it by type), locking only the rows it
fills in: events are never written again once made, so no request waits for them.

Revision ID: 0040
Revises: 0039
Create Date: 2026-12-05 14:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0040"
down_revision: str | None = "0039"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# An event's call_id is the one its payload names (app/events/catalogue.py), null for a
# status report off any call; calls are never deleted.
_FILL = """
UPDATE event e
SET payload = e.payload || jsonb_build_object(
    'external_id', (SELECT c.external_id FROM call c WHERE c.id = e.call_id)
)
WHERE e.type IN ('recommendation.created', 'unit.released', 'unit.status_changed')
  AND NOT e.payload ? 'external_id'
"""


def upgrade() -> None:
    op.execute(_FILL)


def downgrade() -> None:
    """What was filled in stays: an earlier release sends such an event with one field
    more than it wrote, as a newer one's."""
