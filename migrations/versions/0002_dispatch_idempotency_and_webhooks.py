"""dispatch, idempotency and webhooks

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 01:57:02.825616
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Time-ordered ids made inside the database (for rows the fan-out trigger creates).
UUID7_FUNCTION = """
CREATE FUNCTION cit_uuid7() RETURNS uuid LANGUAGE sql VOLATILE AS $$
    SELECT encode(
        set_bit(set_bit(
            overlay(uuid_send(gen_random_uuid())
                    PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp())
                                                     * 1000)::bigint) FROM 3)
                    FROM 1 FOR 6),
            52, 1), 53, 1),
        'hex')::uuid
$$
"""

# The transactional outbox: each event row gets one delivery per matching subscription in
# the same transaction, and the relay is woken with NOTIFY (delivered at commit).
FAN_OUT_FUNCTION = """
CREATE FUNCTION event_fan_out() RETURNS trigger LANGUAGE plpgsql AS $$
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
    op.create_table(
        "idempotency_record",
        sa.Column("agency_id", sa.UUID(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.LargeBinary(), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_body", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_idempotency_record_agency_id_agency")
        ),
        sa.PrimaryKeyConstraint("agency_id", "key", name=op.f("pk_idempotency_record")),
    )
    op.create_index(
        "ix_idempotency_record_expires", "idempotency_record", ["expires_at"], unique=False
    )
    op.create_table(
        "webhook_subscription",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("agency_id", sa.UUID(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("events", sa.ARRAY(sa.Text()), nullable=False),
        sa.Column("responder_id", sa.UUID(), nullable=True),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_webhook_subscription_agency_id_agency")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscription")),
    )
    op.create_index(
        "ix_webhook_subscription_agency",
        "webhook_subscription",
        ["agency_id", "active"],
        unique=False,
    )
    op.create_table(
        "webhook_delivery",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("agency_id", sa.UUID(), nullable=False),
        sa.Column("subscription_id", sa.UUID(), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.Text(), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_webhook_delivery_agency_id_agency")
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["event.id"], name=op.f("fk_webhook_delivery_event_id_event")
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["webhook_subscription.id"],
            name=op.f("fk_webhook_delivery_subscription_id_webhook_subscription"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_delivery")),
    )
    op.create_index(
        "ix_webhook_delivery_due",
        "webhook_delivery",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_webhook_delivery_subscription",
        "webhook_delivery",
        ["subscription_id", "id"],
        unique=False,
    )
    op.add_column("call", sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("call", sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("call", sa.Column("disposition", sa.Text(), nullable=True))
    op.add_column("call", sa.Column("diverted_to", sa.Text(), nullable=True))
    op.execute(UUID7_FUNCTION)
    op.execute(FAN_OUT_FUNCTION)
    op.execute(
        "CREATE TRIGGER event_fan_out AFTER INSERT ON event"
        " FOR EACH ROW EXECUTE FUNCTION event_fan_out()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS event_fan_out ON event")
    op.execute("DROP FUNCTION IF EXISTS event_fan_out()")
    op.execute("DROP FUNCTION IF EXISTS cit_uuid7()")
    op.drop_column("call", "diverted_to")
    op.drop_column("call", "disposition")
    op.drop_column("call", "cleared_at")
    op.drop_column("call", "dispatched_at")
    op.drop_index("ix_webhook_delivery_subscription", table_name="webhook_delivery")
    op.drop_index(
        "ix_webhook_delivery_due",
        table_name="webhook_delivery",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_table("webhook_delivery")
    op.drop_index("ix_webhook_subscription_agency", table_name="webhook_subscription")
    op.drop_table("webhook_subscription")
    op.drop_index("ix_idempotency_record_expires", table_name="idempotency_record")
    op.drop_table("idempotency_record")
