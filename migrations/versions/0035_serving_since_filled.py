"""The officers on record before migration 0034: their period of service where it is known

Migration 0034 dated every officer's latest period of service from the migration itself.
For an officer who has left, that claims a period they never served: it becomes NULL (not
on record), and a shift entered for them is refused as before. Neither their row nor
`active_since` can say more: a reactivated officer resumes their post (migration 0030),
so a period may have begun later than the post, after a leave.

The audit trail can, where it holds the officer's whole history: their `officer.create`
entry is still kept (the retention purge removes the oldest entries first, so the later
ones are kept too), and each `officer.update` entry names the fields it changed, from and
to (`detail.changed`, since the entries were written so; an older entry, which does not,
leaves the history unread: it is found however its path spelt the officer's id). Then the latest period began at the latest update that made
the officer active (its entry's time, a moment after the change: no earlier service is
claimed), or, with none, at the officer's creation, if they were created active: they
are active now, or an update made them inactive. An officer created inactive, and never
made active, never served: NULL.

In a transaction of its own (migrations run one per transaction), after 0034's: the
updates lock only the rows they change, and the audit trail is read under no lock that
holds a request.

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-07 10:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0035"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LEFT = "UPDATE officer SET serving_since = NULL WHERE NOT active AND serving_since IS NOT NULL"

# app/services/audit.py writes a change as {"changed": {field: {"from": …, "to": …}}}.
# An entry names the officer by the 32 hex digits of their id, however it was spelt: an
# update's entry took the path's id as sent (upper case, no hyphens, braces, urn:uuid:,
# all taken by the route) until entries named what changed (9f5ece8: the parsed id).
# An entry missed for its spelling left a history looking whole without it (a leave and
# return, before the last start, unseen). Only the creations and updates tell the period:
# the status reports, most of an officer's entries, are not read.
_BY_THE_TRAIL = """
WITH entry AS (
    SELECT e.agency_id, e.action, e.at, e.detail,
           lower(regexp_replace(e.resource_id, '^urn:uuid:|[{}-]', '', 'gi')) AS officer_hex
      FROM audit_entry e
     WHERE e.resource_type = 'officer' AND e.outcome = 'success'
       AND e.action IN ('officer.create', 'officer.update')
),
trail AS (
    SELECT o.id,
           bool_or(a.action = 'officer.create') AS whole,
           bool_and(a.action <> 'officer.update' OR (a.detail -> 'changed') IS NOT NULL)
               AS readable,
           max(a.at) FILTER (WHERE a.detail #>> '{changed,active,to}' = 'true') AS activated,
           bool_or(a.detail #>> '{changed,active,to}' = 'false') AS left_once
      FROM officer o
      JOIN entry a
        ON a.agency_id = o.agency_id AND a.officer_hex = replace(o.id::text, '-', '')
     GROUP BY o.id
)
UPDATE officer o SET serving_since = coalesce(t.activated, o.created_at)
  FROM trail t
 WHERE t.id = o.id AND t.whole AND t.readable
   AND (t.activated IS NOT NULL OR o.active OR t.left_once)
   AND o.serving_since IS DISTINCT FROM coalesce(t.activated, o.created_at)
"""


def upgrade() -> None:
    op.execute(_LEFT)
    op.execute(_BY_THE_TRAIL)


def downgrade() -> None:
    """What was filled in stays: 0034's downgrade drops the column."""
