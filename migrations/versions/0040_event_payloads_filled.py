"""The events kept from before a field joined their payload take what it would have said

The relay reads an event's payload when it sends it, and the live feed when it replays it:
deliveries pending at the upgrade, their retries, and a feed resumed from before it (up to
the events' retention, 30 days by default) sent those events as an earlier release wrote
them, without fields the webhook document lists as required, and a receiver checking the
payload against its schema refused them. Each such event takes, here, what a lookup tells
of the fields that have a value to find:

- `external_id` of `recommendation.created`, `unit.released` and `unit.status_changed`
  (ae96b18, b0f4b6d, d6d2f6b): the call's (null when it has none, and for a status report
  off any call);
- `safety_concern` and `reasons` of `call.escalated` (3d93f22): those of the
  recommendation it names;
- `safety_concern` of `unit.assigned` (80a1a79): the call's latest recommendation's then
  (false when it had none);
- `use_of_force`, `subject_injured` and `officer_injured` of `call.cleared` (a5fd7ec): as
  the call records them;
- `under_way` of `coverage.gap_ahead` (601f5a4): whether the gap had begun when it was told.

A field that may be null and has nothing to find (a call sign an assignment did not keep,
a part before, an outcome not recorded) is sent null by app/events/stored.py, whichever
release wrote the event: also for one written by an instance of an earlier release still
running while this one rolls out, after this pass.

One pass over the event table per type (no index narrows it by type), locking only the
rows it fills in: events are never written again once made, so no request waits for them.
Only a purge of old events waits, for a row this pass holds, until it commits.

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

# An event's call_id is the call its payload names (app/events/catalogue.py); null for a
# status report off any call and for the coverage events. Calls are never deleted.
_FILLS = (
    """
UPDATE event e
SET payload = e.payload || jsonb_build_object(
    'external_id', (SELECT c.external_id FROM call c WHERE c.id = e.call_id)
)
WHERE e.type IN ('recommendation.created', 'unit.released', 'unit.status_changed')
  AND NOT e.payload ? 'external_id'
""",
    """
UPDATE event e
SET payload = e.payload || jsonb_build_object(
    'safety_concern', r.safety_concern,
    'reasons', COALESCE(
        (SELECT jsonb_agg(jsonb_build_object('rule', x->>'rule', 'message', x->>'message'))
         FROM jsonb_array_elements(r.reasons) x),
        '[]'::jsonb
    )
)
FROM recommendation r
WHERE e.type = 'call.escalated' AND NOT e.payload ? 'safety_concern'
  AND r.id = (e.payload->>'recommendation_id')::uuid
""",
    """
UPDATE event e
SET payload = e.payload || jsonb_build_object('safety_concern', COALESCE((
    SELECT r.safety_concern FROM recommendation r
    WHERE r.call_id = e.call_id AND r.created_at <= e.created_at
    ORDER BY r.created_at DESC, r.id DESC
    LIMIT 1
), false))
WHERE e.type = 'unit.assigned' AND NOT e.payload ? 'safety_concern'
""",
    """
UPDATE event e
SET payload = e.payload || jsonb_build_object(
    'use_of_force', c.use_of_force,
    'subject_injured', c.subject_injured,
    'officer_injured', c.officer_injured
)
FROM call c
WHERE e.type = 'call.cleared' AND NOT e.payload ? 'use_of_force' AND c.id = e.call_id
""",
    """
UPDATE event e
SET payload = e.payload || jsonb_build_object(
    'under_way', (e.payload->>'from')::timestamptz <= e.created_at
)
WHERE e.type = 'coverage.gap_ahead' AND NOT e.payload ? 'under_way'
""",
)


def upgrade() -> None:
    for fill in _FILLS:
        op.execute(fill)


def downgrade() -> None:
    """What was filled in stays: an earlier release sends such an event with fields more
    than it wrote, as a newer one's."""
