"""A unit's terminal also gets updates and escalations of the call it is assigned to

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 02:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A unit driving to a call must hear when a weapon is flagged on it: call.updated and
# call.escalated reach the terminals of units actively assigned to that call.
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
    RETURN NULL;
END;
$$
"""

PREVIOUS = """
CREATE OR REPLACE FUNCTION event_fan_out() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    created integer;
BEGIN
    INSERT INTO webhook_delivery (id, agency_id, subscription_id, event_id)
    SELECT cit_uuid7(), NEW.agency_id, s.id, NEW.id
    FROM webhook_subscription s
    WHERE s.agency_id = NEW.agency_id AND s.active AND NEW.type = ANY (s.events)
      AND (s.responder_id IS NULL OR s.responder_id = NEW.responder_id);
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


def downgrade() -> None:
    op.execute(PREVIOUS)
