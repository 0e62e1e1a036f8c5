"""The CIT program: outcomes at clear, dispatch records with override codes, program policy,
alerts sent once

- `call` gains the outcome of a cleared call (`outcome`, `use_of_force`,
  `subject_injured`, `officer_injured`), CHECK constraints on `outcome` and `diverted_to`
  (which gains `detox` and `jail`), and an index by received time for the outcome report.
- `dispatch` keeps, for every dispatch, the recommendation in force, the lead it
  recommended, the lead sent and the override code and reason; each assignment names its
  dispatch and records when its unit first reported on scene. Dispatches made before this
  migration are rebuilt from their assignments: one per call and assignment instant, with
  the lead of the latest recommendation made by then.
- `routing_policy` gains the program's targets and the EIDO incident types.
- `alert_sent` remembers the alerts the housekeeping loop has emitted, so each goes out once.

The word lists are written out here, as they were when this migration was written;
tests/test_vocabulary.py checks them against app/vocabulary.py.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 07:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "cit_app"

OUTCOMES = (
    "'resolved_on_scene', 'referred', 'transported_voluntary', 'involuntary_hold', 'arrest',"
    " 'citation', 'gone_on_arrival', 'unfounded', 'cancelled', 'refused_services'"
)
DIVERTED_TO = "'crisis_center', 'mh_outpatient', 'hospital', 'detox', 'jail', 'none'"
LEADS = "'mental_health', 'law_enforcement'"
OVERRIDE_CODES = (
    "'closer_unit', 'unit_busy_in_field', 'new_safety_information', 'specialty_needed',"
    " 'caller_request', 'supervisor_decision', 'other'"
)
EIDO_TYPES = "'{EDP,MNTL,MTLV,SUICIDE,SUICTHRT,WELFARE}'::text[]"

# One dispatch per call and assignment instant (one POST assigned all its units at once).
BACKFILL_DISPATCHES = """
INSERT INTO dispatch (id, agency_id, call_id, at, recommendation_id, recommended_lead,
                      dispatched_lead, override_code, override_reason)
SELECT cit_uuid7(), g.agency_id, g.call_id, g.assigned_at, r.id, r.lead,
       CASE g.lead_type WHEN 'co_responder' THEN 'mental_health'
                        WHEN 'officer' THEN 'law_enforcement' END,
       CASE WHEN g.override_reason IS NOT NULL THEN 'other' END,
       g.override_reason
  FROM (SELECT a.agency_id, a.call_id, a.assigned_at,
               min(a.responder_type) FILTER (WHERE a.role = 'lead') AS lead_type,
               min(a.override_reason) AS override_reason
          FROM assignment a GROUP BY a.agency_id, a.call_id, a.assigned_at) g
  LEFT JOIN LATERAL (SELECT rec.id, rec.lead FROM recommendation rec
                      WHERE rec.call_id = g.call_id AND rec.created_at <= g.assigned_at
                      ORDER BY rec.created_at DESC, rec.id DESC LIMIT 1) r ON true
"""
LINK_ASSIGNMENTS = """
UPDATE assignment a SET dispatch_id = d.id
  FROM dispatch d WHERE d.call_id = a.call_id AND d.at = a.assigned_at
"""


def _isolate(table: str) -> None:
    """Row-level security as migration 0006 set it for every agency-scoped table."""
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY cit_owner ON {table} TO CURRENT_USER USING (true) WITH CHECK (true)")
    op.execute(
        f"CREATE POLICY cit_agency ON {table} TO {APP_ROLE}"
        " USING (agency_id = cit_current_agency()) WITH CHECK (agency_id = cit_current_agency())"
    )


def upgrade() -> None:
    op.add_column("call", sa.Column("outcome", sa.Text(), nullable=True))
    for column in ("use_of_force", "subject_injured", "officer_injured"):
        op.add_column(
            "call",
            sa.Column(column, sa.Boolean(), server_default=sa.text("false"), nullable=False),
        )
    op.create_check_constraint(op.f("ck_call_outcome"), "call", f"outcome IN ({OUTCOMES})")
    op.create_check_constraint(
        op.f("ck_call_diverted_to"), "call", f"diverted_to IN ({DIVERTED_TO})"
    )
    op.create_index("ix_call_agency_received_at", "call", ["agency_id", "received_at"])

    op.create_table(
        "dispatch",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("agency_id", sa.UUID(), nullable=False),
        sa.Column("call_id", sa.UUID(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recommendation_id", sa.UUID(), nullable=True),
        sa.Column("recommended_lead", sa.Text(), nullable=True),
        sa.Column("dispatched_lead", sa.Text(), nullable=True),
        sa.Column("override_code", sa.Text(), nullable=True),
        sa.Column("override_reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            f"recommended_lead IN ({LEADS})", name=op.f("ck_dispatch_recommended_lead")
        ),
        sa.CheckConstraint(
            f"dispatched_lead IN ({LEADS})", name=op.f("ck_dispatch_dispatched_lead")
        ),
        sa.CheckConstraint(
            f"override_code IN ({OVERRIDE_CODES})", name=op.f("ck_dispatch_override_code")
        ),
        sa.ForeignKeyConstraint(["agency_id"], ["agency.id"], name="fk_dispatch_agency_id_agency"),
        sa.ForeignKeyConstraint(["call_id"], ["call.id"], name="fk_dispatch_call_id_call"),
        sa.PrimaryKeyConstraint("id", name="pk_dispatch"),
    )
    op.create_index("ix_dispatch_call", "dispatch", ["call_id", "at"])
    op.add_column("assignment", sa.Column("dispatch_id", sa.UUID(), nullable=True))
    op.add_column("assignment", sa.Column("on_scene_at", sa.DateTime(timezone=True), nullable=True))
    op.create_foreign_key(
        "fk_assignment_dispatch_id_dispatch", "assignment", "dispatch", ["dispatch_id"], ["id"]
    )
    op.execute(BACKFILL_DISPATCHES)
    op.execute(LINK_ASSIGNMENTS)
    op.execute(f"GRANT SELECT, INSERT ON dispatch TO {APP_ROLE}")
    _isolate("dispatch")

    policy = "routing_policy"
    op.add_column(policy, sa.Column("coverage_target_cit", sa.Integer(), server_default="1"))
    op.add_column(
        policy, sa.Column("coverage_target_co_responders", sa.Integer(), server_default="1")
    )
    op.add_column(policy, sa.Column("cit_share_target_pct", sa.Float(), server_default="20"))
    op.add_column(policy, sa.Column("coverage_alert_days", sa.Integer(), server_default="7"))
    op.add_column(
        policy,
        sa.Column("eido_incident_types", sa.ARRAY(sa.Text()), server_default=sa.text(EIDO_TYPES)),
    )
    for column in (
        "coverage_target_cit",
        "coverage_target_co_responders",
        "cit_share_target_pct",
        "coverage_alert_days",
        "eido_incident_types",
    ):
        op.alter_column(policy, column, nullable=False)
    op.create_check_constraint(
        op.f("ck_routing_policy_cit_target"), policy, "coverage_target_cit >= 1"
    )
    op.create_check_constraint(
        op.f("ck_routing_policy_co_responder_target"), policy, "coverage_target_co_responders >= 0"
    )
    op.create_check_constraint(
        op.f("ck_routing_policy_cit_share_target"), policy, "cit_share_target_pct BETWEEN 0 AND 100"
    )
    op.create_check_constraint(
        op.f("ck_routing_policy_alert_days"), policy, "coverage_alert_days BETWEEN 0 AND 60"
    )

    op.create_table(
        "alert_sent",
        sa.Column("agency_id", sa.UUID(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name="fk_alert_sent_agency_id_agency"
        ),
        sa.PrimaryKeyConstraint("agency_id", "key", name="pk_alert_sent"),
    )
    op.execute(f"GRANT SELECT, INSERT ON alert_sent TO {APP_ROLE}")
    _isolate("alert_sent")


def downgrade() -> None:
    op.drop_table("alert_sent")
    for name in ("cit_target", "co_responder_target", "cit_share_target", "alert_days"):
        op.drop_constraint(op.f(f"ck_routing_policy_{name}"), "routing_policy")
    for column in (
        "eido_incident_types",
        "coverage_alert_days",
        "cit_share_target_pct",
        "coverage_target_co_responders",
        "coverage_target_cit",
    ):
        op.drop_column("routing_policy", column)
    op.drop_constraint("fk_assignment_dispatch_id_dispatch", "assignment")
    op.drop_column("assignment", "on_scene_at")
    op.drop_column("assignment", "dispatch_id")
    op.drop_table("dispatch")
    op.drop_index("ix_call_agency_received_at", table_name="call")
    op.drop_constraint(op.f("ck_call_diverted_to"), "call")
    op.drop_constraint(op.f("ck_call_outcome"), "call")
    for column in ("officer_injured", "subject_injured", "use_of_force", "outcome"):
        op.drop_column("call", column)
