"""Announce every committed event, and index deliveries by event for the outbox clean-up

Until now the fan-out trigger sent NOTIFY only when it created a webhook delivery, so
nothing could wake on an event no subscriber asked for (a live feed must). It now sends
`cit_event`, with the event's agency id as payload, for every event; PostgreSQL delivers
it at commit, and only then. `cit_webhook_due` still wakes the relay when deliveries were
created.

The rule for who hears an event is unchanged: it is the one of app/events/audience.py
(its IN list holds the types CATALOGUE marks heard_on_the_call), and
tests/events/test_audience.py checks that the two agree.

Housekeeping now removes old events and their finished deliveries. Deleting an event
checks webhook_delivery.event_id, which had no index.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
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

# Migration 0004's version, restored on downgrade.
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
    RETURN NULL;
END;
$$
"""


def upgrade() -> None:
    op.execute(FAN_OUT)
    op.create_index("ix_webhook_delivery_event", "webhook_delivery", ["event_id"])


def downgrade() -> None:
    op.drop_index("ix_webhook_delivery_event", table_name="webhook_delivery")
    op.execute(PREVIOUS)
