"""shift_coverage carries what the candidate query ranks by, kept current by triggers

The candidate query then ranks from one index scan of shift_coverage, and reads officer,
co-responder and certification rows only for the few units it keeps.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 02:35:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_INCLUDED = ["ends_at", "is_home", "responder_type", "responder_id"]
INCLUDED = [
    "ends_at",
    "is_home",
    "responder_type",
    "responder_id",
    "shift_id",
    "call_sign",
    "home_district_id",
    "status",
    "active",
    "lat",
    "lon",
    "preference",
    "cit_periods",
]

# Training preference (officers: 0 de-escalation, 1 mental-health awareness, 2 neither) or
# youth specialty (co-responders: 0 youth, 1 not), as the routing core ranks them.
FUNCTIONS = [
    """
CREATE FUNCTION cit_officer_preference(trainings text[]) RETURNS smallint
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN 'de_escalation' = ANY(trainings) THEN 0
                WHEN 'mh_awareness' = ANY(trainings) THEN 1 ELSE 2 END::smallint
$$
""",
    """
CREATE FUNCTION cit_periods_of(person text) RETURNS datemultirange
LANGUAGE sql STABLE AS $$
    SELECT coalesce(range_agg(daterange(c.certified_on, c.expires_on)), '{}'::datemultirange)
    FROM certification c WHERE c.state_officer_id = person
$$
""",
    """
CREATE FUNCTION shift_coverage_fill() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.responder_type = 'officer' THEN
        SELECT o.status, o.active, o.lat, o.lon, cit_officer_preference(o.trainings),
               cit_periods_of(o.state_officer_id)
          INTO NEW.status, NEW.active, NEW.lat, NEW.lon, NEW.preference, NEW.cit_periods
          FROM officer o WHERE o.id = NEW.responder_id;
    ELSE
        SELECT c.status, c.active, c.lat, c.lon,
               CASE WHEN 'youth' = ANY(c.specialties) THEN 0 ELSE 1 END::smallint,
               '{}'::datemultirange
          INTO NEW.status, NEW.active, NEW.lat, NEW.lon, NEW.preference, NEW.cit_periods
          FROM co_responder c WHERE c.id = NEW.responder_id;
    END IF;
    RETURN NEW;
END;
$$
""",
    """
CREATE FUNCTION officer_to_coverage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE shift_coverage
       SET status = NEW.status, active = NEW.active, lat = NEW.lat, lon = NEW.lon,
           preference = cit_officer_preference(NEW.trainings)
     WHERE responder_id = NEW.id AND ends_at > now();
    RETURN NULL;
END;
$$
""",
    """
CREATE FUNCTION co_responder_to_coverage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE shift_coverage
       SET status = NEW.status, active = NEW.active, lat = NEW.lat, lon = NEW.lon,
           preference = CASE WHEN 'youth' = ANY(NEW.specialties) THEN 0 ELSE 1 END
     WHERE responder_id = NEW.id AND ends_at > now();
    RETURN NULL;
END;
$$
""",
    """
CREATE FUNCTION certification_to_coverage() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    person text := coalesce(NEW.state_officer_id, OLD.state_officer_id);
BEGIN
    UPDATE shift_coverage sc
       SET cit_periods = cit_periods_of(person)
     WHERE sc.responder_type = 'officer' AND sc.ends_at > now()
       AND sc.responder_id IN (SELECT o.id FROM officer o WHERE o.state_officer_id = person);
    RETURN NULL;
END;
$$
""",
]
TRIGGERS = [
    "CREATE TRIGGER shift_coverage_fill BEFORE INSERT ON shift_coverage"
    " FOR EACH ROW EXECUTE FUNCTION shift_coverage_fill()",
    "CREATE TRIGGER officer_to_coverage AFTER UPDATE ON officer FOR EACH ROW"
    " WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.active IS DISTINCT FROM NEW.active"
    " OR OLD.lat IS DISTINCT FROM NEW.lat OR OLD.lon IS DISTINCT FROM NEW.lon"
    " OR OLD.trainings IS DISTINCT FROM NEW.trainings)"
    " EXECUTE FUNCTION officer_to_coverage()",
    "CREATE TRIGGER co_responder_to_coverage AFTER UPDATE ON co_responder FOR EACH ROW"
    " WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.active IS DISTINCT FROM NEW.active"
    " OR OLD.lat IS DISTINCT FROM NEW.lat OR OLD.lon IS DISTINCT FROM NEW.lon"
    " OR OLD.specialties IS DISTINCT FROM NEW.specialties)"
    " EXECUTE FUNCTION co_responder_to_coverage()",
    "CREATE TRIGGER certification_to_coverage AFTER INSERT OR UPDATE OR DELETE ON certification"
    " FOR EACH ROW EXECUTE FUNCTION certification_to_coverage()",
]


def upgrade() -> None:
    op.add_column("shift_coverage", sa.Column("call_sign", sa.Text(), nullable=True))
    op.add_column("shift_coverage", sa.Column("home_district_id", sa.UUID(), nullable=True))
    op.add_column("shift_coverage", sa.Column("status", sa.Text(), nullable=True))
    op.add_column("shift_coverage", sa.Column("active", sa.Boolean(), nullable=True))
    op.add_column("shift_coverage", sa.Column("lat", sa.Double(), nullable=True))
    op.add_column("shift_coverage", sa.Column("lon", sa.Double(), nullable=True))
    op.add_column("shift_coverage", sa.Column("preference", sa.SmallInteger(), nullable=True))
    op.add_column(
        "shift_coverage", sa.Column("cit_periods", postgresql.DATEMULTIRANGE(), nullable=True)
    )
    for function in FUNCTIONS:
        op.execute(function)
    op.execute(
        "UPDATE shift_coverage sc SET call_sign = s.call_sign, home_district_id = s.district_id"
        " FROM shift s WHERE s.id = sc.shift_id"
    )
    op.execute(
        "UPDATE shift_coverage sc SET status = o.status, active = o.active, lat = o.lat,"
        " lon = o.lon, preference = cit_officer_preference(o.trainings),"
        " cit_periods = cit_periods_of(o.state_officer_id)"
        " FROM officer o WHERE o.id = sc.responder_id"
    )
    op.execute(
        "UPDATE shift_coverage sc SET status = c.status, active = c.active, lat = c.lat,"
        " lon = c.lon, preference = CASE WHEN 'youth' = ANY(c.specialties) THEN 0 ELSE 1 END,"
        " cit_periods = '{}' FROM co_responder c WHERE c.id = sc.responder_id"
    )
    for column in ("call_sign", "home_district_id", "status", "active", "preference"):
        op.alter_column("shift_coverage", column, nullable=False)
    for trigger in TRIGGERS:
        op.execute(trigger)
    op.drop_index("ix_shift_coverage_district_window", table_name="shift_coverage")
    op.create_index(
        "ix_shift_coverage_district_window",
        "shift_coverage",
        ["district_id", "starts_at"],
        postgresql_include=INCLUDED,
    )


def downgrade() -> None:
    op.drop_index("ix_shift_coverage_district_window", table_name="shift_coverage")
    op.create_index(
        "ix_shift_coverage_district_window",
        "shift_coverage",
        ["district_id", "starts_at"],
        postgresql_include=OLD_INCLUDED,
    )
    for table, trigger in (
        ("certification", "certification_to_coverage"),
        ("co_responder", "co_responder_to_coverage"),
        ("officer", "officer_to_coverage"),
        ("shift_coverage", "shift_coverage_fill"),
    ):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
    for function in (
        "certification_to_coverage()",
        "co_responder_to_coverage()",
        "officer_to_coverage()",
        "shift_coverage_fill()",
        "cit_periods_of(text)",
        "cit_officer_preference(text[])",
    ):
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
    for column in (
        "cit_periods",
        "preference",
        "lon",
        "lat",
        "active",
        "status",
        "home_district_id",
        "call_sign",
    ):
        op.drop_column("shift_coverage", column)
