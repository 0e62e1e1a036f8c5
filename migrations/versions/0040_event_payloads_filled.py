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
- `call_sign` of `unit.assigned` and `unit.released` (a12fe21, 15e2a9f): the one the
  unit's assignment to the call keeps (migrations 0037 and 0038), and of
  `unit.status_changed` (52edd03): that of the shift naming the unit then (begun last by
  then, else its next one), as 0038 names an assignment;
- `safety_concern` and `reasons` of `call.escalated` (3d93f22): those of the
  recommendation it names (false and none for one that names none);
- `safety_concern` of `unit.assigned` (80a1a79): the call's latest recommendation's then
  (false when it had none);
- `use_of_force`, `subject_injured` and `officer_injured` of `call.cleared` (a5fd7ec): as
  the call records them;
- `under_way` of `coverage.gap_ahead` (601f5a4): whether the gap had begun when it was told.

A field that may be null and has nothing to find (a call sign of a unit with no shift, a
part before, an outcome not recorded) is sent null by app/events/stored.py, whichever
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
SET payload = e.payload || jsonb_build_object('call_sign', (
    SELECT a.call_sign FROM assignment a
    WHERE a.call_id = e.call_id AND a.responder_id = e.responder_id
      AND a.assigned_at <= e.created_at
    ORDER BY a.assigned_at DESC
    LIMIT 1
))
WHERE e.type IN ('unit.assigned', 'unit.released') AND NOT e.payload ? 'call_sign'
""",
    """
UPDATE event e
SET payload = e.payload || jsonb_build_object('call_sign', (
    SELECT s.call_sign FROM (
        (SELECT worked.call_sign, 0 AS rank FROM shift worked
         WHERE worked.agency_id = e.agency_id AND worked.responder_id = e.responder_id
           AND worked.starts_at <= e.created_at
         ORDER BY worked.starts_at DESC
         LIMIT 1)
        UNION ALL
        (SELECT ahead.call_sign, 1 AS rank FROM shift ahead
         WHERE ahead.agency_id = e.agency_id AND ahead.responder_id = e.responder_id
           AND ahead.starts_at > e.created_at
         ORDER BY ahead.starts_at
         LIMIT 1)
    ) s
    ORDER BY s.rank
    LIMIT 1
))
WHERE e.type = 'unit.status_changed' AND NOT e.payload ? 'call_sign'
""",
    """
UPDATE event e
SET payload = e.payload || jsonb_build_object(
    'safety_concern', COALESCE(r.safety_concern, false),
    'reasons', COALESCE(
        (SELECT jsonb_agg(
             jsonb_build_object(
                 'rule', COALESCE(x.reason->>'rule', ''),
                 'message', COALESCE(x.reason->>'message', '')
             )
             ORDER BY x.n
         )
         FROM jsonb_array_elements(r.reasons) WITH ORDINALITY AS x(reason, n)),
        '[]'::jsonb
    )
)
FROM event named
LEFT JOIN recommendation r ON r.id = CASE
    WHEN named.payload->>'recommendation_id'
         ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
    THEN (named.payload->>'recommendation_id')::uuid
END
WHERE named.id = e.id
  AND e.type = 'call.escalated' AND NOT e.payload ? 'safety_concern'
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
