"""The live feed's order: each event's transaction, and the units on its call when written

GET /v1/stream resumes after the last event a client saw, so it needs an order in which an
event that becomes visible later never sorts before one already sent. Event ids are made
before commit and do not give commit order. This adds:

- `event.xact_id` (bigint): the id (xid8, which never wraps) of the transaction that wrote
  the event, from pg_current_xact_id(). The feed's position is (xact_id, id), and it sends
  only events whose transaction is below its snapshot's xmin: every transaction below that
  has ended, so nothing can still appear behind the position (app/repositories/stream.py).
- `ix_event_position (agency_id, xact_id, id)`, the feed's read, in place of
  `ix_event_agency (agency_id, id)`, which no query used: events keep one secondary index.
- `event.units_on_call`: the units actively assigned to the event's call when it was
  written, filled by the one writer (INSERT_EVENTS). The fan-out trigger now reads it
  instead of looking up assignments, so webhooks and the feed decide who hears an event
  (app/events/audience.py; tests/events/test_audience.py checks the two agree) from the
  same fact, whenever the feed reads it. Events written before this have none.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FAN_OUT = """
CREATE OR REPLACE FUNCTION event_fan_out() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    created integer;
BEGIN
    INSERT INTO webhook_delivery (id, agency_id, subscription_id, event_id)
    SELECT cit_uuid7(), NEW.agency_id, s.id, NEW.id
    FROM webhook_subscription s
    WHERE s.agency_id = NEW.agency_id AND s.active AND NEW.type = ANY (s.events)
      AND (s.responder_id IS NULL
           OR s.responder_id = NEW.responder_id
           OR (NEW.responder_id IS NULL AND NEW.call_id IS NOT NULL
               AND NEW.type IN ('call.updated', 'call.escalated')
               AND s.responder_id = ANY (NEW.units_on_call)));
    GET DIAGNOSTICS created = ROW_COUNT;
    IF created > 0 THEN
        PERFORM pg_notify('cit_webhook_due', '');
    END IF;
    -- Identical notifications in one transaction are sent once: one per agency and commit.
    PERFORM pg_notify('cit_event', NEW.agency_id::text);
    RETURN NULL;
END;
$$
"""

# Migration 0009's version, restored on downgrade.
PREVIOUS = """
CREATE OR REPLACE FUNCTION event_fan_out() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    created integer;
BEGIN
    INSERT INTO webhook_delivery (id, agency_id, subscription_id, event_id)
    SELECT cit_uuid7(), NEW.agency_id, s.id, NEW.id
    FROM webhook_subscription s
    WHERE s.agency_id = NEW.agency_id AND s.active AND NEW.type = ANY (s.events)
      AND (s.responder_id IS NULL
           OR s.responder_id = NEW.responder_id
           OR (NEW.responder_id IS NULL AND NEW.call_id IS NOT NULL
               AND NEW.type IN ('call.updated', 'call.escalated')
               AND EXISTS (SELECT 1 FROM assignment a
                           WHERE a.call_id = NEW.call_id AND a.responder_id = s.responder_id
                             AND a.released_at IS NULL)));
    GET DIAGNOSTICS created = ROW_COUNT;
    IF created > 0 THEN
        PERFORM pg_notify('cit_webhook_due', '');
    END IF;
    -- Identical notifications in one transaction are sent once: one per agency and commit.
    PERFORM pg_notify('cit_event', NEW.agency_id::text);
    RETURN NULL;
END;
$$
"""


def upgrade() -> None:
    # Existing events all get this migration's transaction: they keep their id order.
    op.add_column(
        "event",
        sa.Column(
            "xact_id",
            sa.BigInteger(),
            server_default=sa.text("(pg_current_xact_id())::text::bigint"),
            nullable=False,
        ),
    )
    op.add_column(
        "event",
        sa.Column(
            "units_on_call",
            postgresql.ARRAY(sa.UUID()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
    )
    op.drop_index("ix_event_agency", table_name="event")
    op.create_index("ix_event_position", "event", ["agency_id", "xact_id", "id"])
    op.execute(FAN_OUT)


def downgrade() -> None:
    op.execute(PREVIOUS)
    op.drop_index("ix_event_position", table_name="event")
    op.create_index("ix_event_agency", "event", ["agency_id", "id"])
    op.drop_column("event", "units_on_call")
    op.drop_column("event", "xact_id")
