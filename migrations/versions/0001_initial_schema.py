"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 01:24:11.056369
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# No responder may hold two overlapping shifts. An exclusion constraint would need the
# btree_gist extension, which the embedded server (pgserver) does not ship, so a trigger
# enforces it: it locks the responder's row, so concurrent inserts for one responder queue
# up, and each then checks for overlap in a fresh snapshot (READ COMMITTED).
SHIFT_NO_OVERLAP_FUNCTION = """
CREATE FUNCTION shift_no_overlap() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    who uuid := coalesce(NEW.officer_id, NEW.co_responder_id);
BEGIN
    IF NEW.officer_id IS NOT NULL THEN
        PERFORM 1 FROM officer WHERE id = NEW.officer_id FOR NO KEY UPDATE;
    ELSE
        PERFORM 1 FROM co_responder WHERE id = NEW.co_responder_id FOR NO KEY UPDATE;
    END IF;
    IF EXISTS (
        SELECT 1 FROM shift s
        WHERE s.responder_id = who AND s.id <> NEW.id
          AND s.starts_at < NEW.ends_at AND s.ends_at > NEW.starts_at
    ) THEN
        RAISE EXCEPTION 'responder % already has a shift overlapping % to %',
            who, NEW.starts_at, NEW.ends_at
            USING ERRCODE = 'exclusion_violation', CONSTRAINT = 'shift_no_overlap';
    END IF;
    RETURN NEW;
END;
$$
"""


def upgrade() -> None:
    op.create_table(
        "agency",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("timezone", sa.Text(), nullable=False),
        sa.Column("ori", sa.String(length=9), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agency")),
        sa.UniqueConstraint("ori", name=op.f("uq_agency_ori")),
    )
    op.create_table(
        "api_key",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("agency_id", sa.UUID(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("responder_type", sa.Text(), nullable=True),
        sa.Column("responder_id", sa.UUID(), nullable=True),
        sa.Column("prefix", sa.Text(), nullable=False),
        sa.Column("key_hash", sa.LargeBinary(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(role = 'unit') = (responder_id IS NOT NULL)",
            name=op.f("ck_api_key_unit_role_has_responder"),
        ),
        sa.CheckConstraint(
            "responder_type IS NULL OR responder_type IN ('officer', 'co_responder')",
            name=op.f("ck_api_key_responder_type"),
        ),
        sa.CheckConstraint(
            "role IN ('admin', 'supervisor', 'dispatcher', 'integration', 'unit', 'viewer')",
            name=op.f("ck_api_key_role"),
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_api_key_agency_id_agency")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_key_key_hash")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_key_prefix")),
    )
    op.create_index(op.f("ix_api_key_agency_id"), "api_key", ["agency_id"], unique=False)
    op.create_table(
        "audit_entry",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("agency_id", sa.UUID(), nullable=True),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("key_id", sa.UUID(), nullable=True),
        sa.Column("role", sa.Text(), nullable=True),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("resource_type", sa.Text(), nullable=True),
        sa.Column("resource_id", sa.Text(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=True),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_audit_entry_agency_id_agency")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entry")),
    )
    op.create_index("ix_audit_entry_agency_at", "audit_entry", ["agency_id", "at"], unique=False)
    op.create_index(
        "ix_audit_entry_resource",
        "audit_entry",
        ["agency_id", "resource_type", "resource_id"],
        unique=False,
    )
    op.create_table(
        "certification",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("state_officer_id", sa.Text(), nullable=False),
        sa.Column("certification_number", sa.Text(), nullable=False),
        sa.Column("program", sa.Text(), nullable=False),
        sa.Column("certified_on", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("volunteered", sa.Boolean(), nullable=False),
        sa.Column("recorded_by_agency_id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "expires_on > certified_on", name=op.f("ck_certification_expires_after_certified")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_agency_id"],
            ["agency.id"],
            name=op.f("fk_certification_recorded_by_agency_id_agency"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certification")),
        sa.UniqueConstraint(
            "state_officer_id",
            "certification_number",
            name=op.f("uq_certification_state_officer_id"),
        ),
    )
    op.create_index(
        "ix_certification_person", "certification", ["state_officer_id", "expires_on"], unique=False
    )
    op.create_table(
        "co_responder",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("agency_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("specialties", sa.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("status", sa.Text(), server_default="available", nullable=False),
        sa.Column(
            "status_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("lat", sa.Double(), nullable=True),
        sa.Column("lon", sa.Double(), nullable=True),
        sa.Column("location_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("active_call_id", sa.UUID(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('clinician', 'peer_specialist', 'mobile_crisis_team')",
            name=op.f("ck_co_responder_kind"),
        ),
        sa.CheckConstraint(
            "status IN ('available', 'dispatched', 'en_route', 'on_scene', 'transporting', 'out_of_service')",
            name=op.f("ck_co_responder_status"),
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_co_responder_agency_id_agency")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_co_responder")),
    )
    op.create_index("ix_co_responder_agency_id", "co_responder", ["agency_id", "id"], unique=False)
    op.create_table(
        "district",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("agency_id", sa.UUID(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("boundary", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_district_agency_id_agency")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_district")),
        sa.UniqueConstraint("agency_id", "code", name=op.f("uq_district_agency_id")),
    )
    op.create_table(
        "event",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("agency_id", sa.UUID(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("call_id", sa.UUID(), nullable=True),
        sa.Column("responder_id", sa.UUID(), nullable=True),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_event_agency_id_agency")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event")),
    )
    op.create_index("ix_event_agency", "event", ["agency_id", "id"], unique=False)
    op.create_table(
        "officer",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("agency_id", sa.UUID(), nullable=False),
        sa.Column("state_officer_id", sa.Text(), nullable=False),
        sa.Column("badge_number", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("trainings", sa.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("separated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("status", sa.Text(), server_default="available", nullable=False),
        sa.Column(
            "status_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("lat", sa.Double(), nullable=True),
        sa.Column("lon", sa.Double(), nullable=True),
        sa.Column("location_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("active_call_id", sa.UUID(), nullable=True),
        sa.CheckConstraint(
            "status IN ('available', 'dispatched', 'en_route', 'on_scene', 'transporting', 'out_of_service')",
            name=op.f("ck_officer_status"),
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_officer_agency_id_agency")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_officer")),
    )
    op.create_index("ix_officer_state_officer_id", "officer", ["state_officer_id"], unique=False)
    op.create_index(
        "uq_officer_active_badge_number",
        "officer",
        ["agency_id", "badge_number"],
        unique=True,
        postgresql_where=sa.text("active"),
    )
    op.create_index(
        "uq_officer_active_state_officer_id",
        "officer",
        ["agency_id", "state_officer_id"],
        unique=True,
        postgresql_where=sa.text("active"),
    )
    op.create_table(
        "routing_policy",
        sa.Column("agency_id", sa.UUID(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("safety_flags", sa.ARRAY(sa.Text()), nullable=False),
        sa.Column("nature_flags", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("le_backup_for_mh_lead", sa.Boolean(), nullable=False),
        sa.Column("adjacency_depth", sa.Integer(), nullable=False),
        sa.Column("speed_kmh", sa.Float(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "adjacency_depth BETWEEN 0 AND 3", name=op.f("ck_routing_policy_depth_range")
        ),
        sa.CheckConstraint("speed_kmh > 0", name=op.f("ck_routing_policy_positive_speed")),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_routing_policy_agency_id_agency")
        ),
        sa.PrimaryKeyConstraint("agency_id", "version", name=op.f("pk_routing_policy")),
    )
    op.create_table(
        "call",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("agency_id", sa.UUID(), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), server_default="pending", nullable=False),
        sa.Column("district_id", sa.UUID(), nullable=False),
        sa.Column("lat", sa.Double(), nullable=True),
        sa.Column("lon", sa.Double(), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("nature", sa.Text(), nullable=True),
        sa.Column("safety", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "subject", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'dispatched', 'cleared')", name=op.f("ck_call_status")
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_call_agency_id_agency")
        ),
        sa.ForeignKeyConstraint(
            ["district_id"], ["district.id"], name=op.f("fk_call_district_id_district")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call")),
    )
    op.create_index("ix_call_agency_id", "call", ["agency_id", "id"], unique=False)
    op.create_index(
        "ix_call_agency_district", "call", ["agency_id", "district_id", "id"], unique=False
    )
    op.create_index("ix_call_agency_status", "call", ["agency_id", "status", "id"], unique=False)
    op.create_index(
        "uq_call_agency_external_id",
        "call",
        ["agency_id", "external_id"],
        unique=True,
        postgresql_where=sa.text("external_id IS NOT NULL"),
    )
    op.create_table(
        "district_adjacency",
        sa.Column("agency_id", sa.UUID(), nullable=False),
        sa.Column("district_a_id", sa.UUID(), nullable=False),
        sa.Column("district_b_id", sa.UUID(), nullable=False),
        sa.CheckConstraint(
            "district_a_id < district_b_id", name=op.f("ck_district_adjacency_ordered_pair")
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_district_adjacency_agency_id_agency")
        ),
        sa.ForeignKeyConstraint(
            ["district_a_id"],
            ["district.id"],
            name=op.f("fk_district_adjacency_district_a_id_district"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["district_b_id"],
            ["district.id"],
            name=op.f("fk_district_adjacency_district_b_id_district"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "district_a_id", "district_b_id", name=op.f("pk_district_adjacency")
        ),
    )
    op.create_index(
        "ix_district_adjacency_b", "district_adjacency", ["district_b_id"], unique=False
    )
    op.create_table(
        "shift",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("agency_id", sa.UUID(), nullable=False),
        sa.Column("responder_type", sa.Text(), nullable=False),
        sa.Column("officer_id", sa.UUID(), nullable=True),
        sa.Column("co_responder_id", sa.UUID(), nullable=True),
        sa.Column(
            "responder_id",
            sa.UUID(),
            sa.Computed("coalesce(officer_id, co_responder_id)", persisted=True),
            nullable=False,
        ),
        sa.Column("call_sign", sa.Text(), nullable=False),
        sa.Column("district_id", sa.UUID(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(responder_type = 'officer' AND officer_id IS NOT NULL AND co_responder_id IS NULL) OR (responder_type = 'co_responder' AND co_responder_id IS NOT NULL AND officer_id IS NULL)",
            name=op.f("ck_shift_one_responder"),
        ),
        sa.CheckConstraint(
            "ends_at - starts_at <= interval '24 hours'", name=op.f("ck_shift_at_most_24h")
        ),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_shift_ends_after_start")),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_shift_agency_id_agency")
        ),
        sa.ForeignKeyConstraint(
            ["co_responder_id"],
            ["co_responder.id"],
            name=op.f("fk_shift_co_responder_id_co_responder"),
        ),
        sa.ForeignKeyConstraint(
            ["district_id"], ["district.id"], name=op.f("fk_shift_district_id_district")
        ),
        sa.ForeignKeyConstraint(
            ["officer_id"], ["officer.id"], name=op.f("fk_shift_officer_id_officer")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shift")),
    )
    op.execute(SHIFT_NO_OVERLAP_FUNCTION)
    op.execute(
        "CREATE TRIGGER shift_no_overlap BEFORE INSERT OR UPDATE ON shift"
        " FOR EACH ROW EXECUTE FUNCTION shift_no_overlap()"
    )
    op.create_index("ix_shift_agency_starts_at", "shift", ["agency_id", "starts_at"], unique=False)
    op.create_index("ix_shift_responder_id", "shift", ["responder_id", "starts_at"], unique=False)
    op.create_table(
        "assignment",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("agency_id", sa.UUID(), nullable=False),
        sa.Column("call_id", sa.UUID(), nullable=False),
        sa.Column("responder_type", sa.Text(), nullable=False),
        sa.Column("responder_id", sa.UUID(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("override_reason", sa.Text(), nullable=True),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_assignment_agency_id_agency")
        ),
        sa.ForeignKeyConstraint(["call_id"], ["call.id"], name=op.f("fk_assignment_call_id_call")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignment")),
    )
    op.create_index("ix_assignment_call", "assignment", ["call_id"], unique=False)
    op.create_index(
        "ix_assignment_responder_recent",
        "assignment",
        ["responder_id", "assigned_at"],
        unique=False,
    )
    op.create_index(
        "uq_assignment_active_responder",
        "assignment",
        ["responder_id"],
        unique=True,
        postgresql_where=sa.text("released_at IS NULL"),
    )
    op.create_table(
        "recommendation",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("agency_id", sa.UUID(), nullable=False),
        sa.Column("call_id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("policy_version", sa.Integer(), nullable=False),
        sa.Column("lead", sa.Text(), nullable=False),
        sa.Column("safety_concern", sa.Boolean(), nullable=False),
        sa.Column("units", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("requests", sa.ARRAY(sa.Text()), nullable=False),
        sa.Column("warnings", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("reasons", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_recommendation_agency_id_agency")
        ),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["call.id"],
            name=op.f("fk_recommendation_call_id_call"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recommendation")),
    )
    op.create_index("ix_recommendation_call", "recommendation", ["call_id", "id"], unique=False)
    op.create_table(
        "shift_coverage",
        sa.Column("shift_id", sa.UUID(), nullable=False),
        sa.Column("district_id", sa.UUID(), nullable=False),
        sa.Column("agency_id", sa.UUID(), nullable=False),
        sa.Column("is_home", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("responder_type", sa.Text(), nullable=False),
        sa.Column("responder_id", sa.UUID(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_shift_coverage_agency_id_agency")
        ),
        sa.ForeignKeyConstraint(
            ["district_id"], ["district.id"], name=op.f("fk_shift_coverage_district_id_district")
        ),
        sa.ForeignKeyConstraint(
            ["shift_id"],
            ["shift.id"],
            name=op.f("fk_shift_coverage_shift_id_shift"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("shift_id", "district_id", name=op.f("pk_shift_coverage")),
    )
    op.create_index(
        "ix_shift_coverage_district_window",
        "shift_coverage",
        ["district_id", "starts_at"],
        unique=False,
        postgresql_include=["ends_at", "is_home", "responder_type", "responder_id"],
    )


def downgrade() -> None:
    op.drop_index(
        "ix_shift_coverage_district_window",
        table_name="shift_coverage",
        postgresql_include=["ends_at", "is_home", "responder_type", "responder_id"],
    )
    op.drop_table("shift_coverage")
    op.drop_index("ix_recommendation_call", table_name="recommendation")
    op.drop_table("recommendation")
    op.drop_index(
        "uq_assignment_active_responder",
        table_name="assignment",
        postgresql_where=sa.text("released_at IS NULL"),
    )
    op.drop_index("ix_assignment_responder_recent", table_name="assignment")
    op.drop_index("ix_assignment_call", table_name="assignment")
    op.drop_table("assignment")
    op.drop_index("ix_shift_responder_id", table_name="shift")
    op.drop_index("ix_shift_agency_starts_at", table_name="shift")
    op.execute("DROP TRIGGER IF EXISTS shift_no_overlap ON shift")
    op.drop_table("shift")
    op.execute("DROP FUNCTION IF EXISTS shift_no_overlap()")
    op.drop_index("ix_district_adjacency_b", table_name="district_adjacency")
    op.drop_table("district_adjacency")
    op.drop_index(
        "uq_call_agency_external_id",
        table_name="call",
        postgresql_where=sa.text("external_id IS NOT NULL"),
    )
    op.drop_index("ix_call_agency_status", table_name="call")
    op.drop_index("ix_call_agency_district", table_name="call")
    op.drop_index("ix_call_agency_id", table_name="call")
    op.drop_table("call")
    op.drop_table("routing_policy")
    op.drop_index(
        "uq_officer_active_state_officer_id",
        table_name="officer",
        postgresql_where=sa.text("active"),
    )
    op.drop_index(
        "uq_officer_active_badge_number", table_name="officer", postgresql_where=sa.text("active")
    )
    op.drop_index("ix_officer_state_officer_id", table_name="officer")
    op.drop_table("officer")
    op.drop_index("ix_event_agency", table_name="event")
    op.drop_table("event")
    op.drop_table("district")
    op.drop_index("ix_co_responder_agency_id", table_name="co_responder")
    op.drop_table("co_responder")
    op.drop_index("ix_certification_person", table_name="certification")
    op.drop_table("certification")
    op.drop_index("ix_audit_entry_resource", table_name="audit_entry")
    op.drop_index("ix_audit_entry_agency_at", table_name="audit_entry")
    op.drop_table("audit_entry")
    op.drop_index(op.f("ix_api_key_agency_id"), table_name="api_key")
    op.drop_table("api_key")
    op.drop_table("agency")
