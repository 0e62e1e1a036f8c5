"""Agency isolation in the database: an application role, row-level security, append-only audit

The service's request handling connects as `cit_app`, which owns nothing. Every
agency-scoped table has FORCE ROW LEVEL SECURITY and a policy that shows `cit_app` only the
rows of the agency set for the current transaction (`cit.agency_id`, set with
set_config(..., true), so a pooled connection never carries it into the next transaction).
The owner (the role that runs migrations, the CLI and the webhook relay) has an explicit
policy of its own: nothing bypasses row-level security implicitly.

The certification registry is the one deliberate cross-agency read (docs/routing.md, "CIT
certification"): an agency sees the certifications of every person it employs or has
employed.

The audit trail is append-only: `cit_app` may only insert and read it, and a trigger
refuses UPDATE and DELETE for everyone, except the retention purge (cit_purge_audit).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 02:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "cit_app"

# Every table whose rows belong to one agency, and what the application may do with them.
AGENCY_TABLES: dict[str, str] = {
    "api_key": "SELECT, INSERT, UPDATE",
    "assignment": "SELECT, INSERT, UPDATE, DELETE",
    "call": "SELECT, INSERT, UPDATE",
    "co_responder": "SELECT, INSERT, UPDATE",
    "district": "SELECT, INSERT, UPDATE, DELETE",
    "district_adjacency": "SELECT, INSERT, UPDATE, DELETE",
    "event": "SELECT, INSERT",
    "idempotency_record": "SELECT, INSERT, UPDATE, DELETE",
    "officer": "SELECT, INSERT, UPDATE",
    "recommendation": "SELECT, INSERT",
    "routing_policy": "SELECT, INSERT",
    "shift": "SELECT, INSERT, UPDATE, DELETE",
    "shift_coverage": "SELECT, INSERT, UPDATE, DELETE",
    "webhook_delivery": "SELECT, INSERT, UPDATE",
    "webhook_subscription": "SELECT, INSERT, UPDATE, DELETE",
    "audit_entry": "SELECT, INSERT",
}

CREATE_ROLE = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
        CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
EXCEPTION WHEN duplicate_object THEN
    NULL;  -- another database on this server created it at the same moment
END $$
"""

CURRENT_AGENCY = """
CREATE FUNCTION cit_current_agency() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT nullif(current_setting('cit.agency_id', true), '')::uuid
$$
"""

# Authentication happens before the agency is known: a narrow definer-rights lookup.
AUTHENTICATE = """
CREATE FUNCTION cit_authenticate(digest bytea)
RETURNS TABLE (id uuid, agency_id uuid, role text, responder_type text, responder_id uuid,
               prefix text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT k.id, k.agency_id, k.role, k.responder_type, k.responder_id, k.prefix
      FROM api_key k
     WHERE k.key_hash = digest AND k.revoked_at IS NULL
       AND (k.expires_at IS NULL OR k.expires_at > now())
$$
"""

# A failed authentication is recorded against the agency whose key prefix was presented,
# if any, so its admins see attempts with a revoked, expired or guessed key.
AUTH_FAILURE = """
CREATE FUNCTION cit_record_auth_failure(key_prefix text, request_id text, detail jsonb)
RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    INSERT INTO audit_entry (id, agency_id, at, key_id, role, action, resource_type,
                             resource_id, outcome, request_id, detail)
    SELECT cit_uuid7(), k.agency_id, now(), k.id, NULL, 'auth.failed', 'api_key',
           k.id::text, 'denied', request_id, detail
      FROM (SELECT 1) one
      LEFT JOIN api_key k ON k.prefix = key_prefix
$$
"""

APPEND_ONLY = """
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('cit.audit_purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the audit trail is append-only: % is refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$
"""

PURGE = """
CREATE FUNCTION cit_purge_audit(keep interval) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    removed bigint;
BEGIN
    IF keep < interval '365 days' THEN
        RAISE EXCEPTION 'audit entries are kept for at least a year';
    END IF;
    PERFORM set_config('cit.audit_purge', 'on', true);
    DELETE FROM audit_entry WHERE at < now() - keep;
    GET DIAGNOSTICS removed = ROW_COUNT;
    PERFORM set_config('cit.audit_purge', 'off', true);
    RETURN removed;
END;
$$
"""

# The candidate scan is index-only. Under row-level security the policy compares agency_id
# on every row, so the index leads with it: the policy becomes part of the index condition,
# evaluated once per scan rather than once per unit in reach.
COVERAGE_INCLUDED = [
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


def _coverage_index(columns: list[str]) -> None:
    op.drop_index("ix_shift_coverage_district_window", table_name="shift_coverage")
    op.create_index(
        "ix_shift_coverage_district_window",
        "shift_coverage",
        columns,
        postgresql_include=COVERAGE_INCLUDED,
    )


# Triggers that must reach beyond the current agency's rows run with the owner's rights.
DEFINER_TRIGGERS = ("certification_to_coverage()", "agency_longest_shift()")


def _isolate(table: str, predicate: str, check: str | None = None) -> None:
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY cit_owner ON {table} TO CURRENT_USER USING (true) WITH CHECK (true)")
    op.execute(
        f"CREATE POLICY cit_agency ON {table} TO {APP_ROLE}"
        f" USING ({predicate}) WITH CHECK ({check or predicate})"
    )


def upgrade() -> None:
    op.execute(CREATE_ROLE)
    op.execute(CURRENT_AGENCY)
    for table, privileges in AGENCY_TABLES.items():
        op.execute(f"GRANT {privileges} ON {table} TO {APP_ROLE}")
        _isolate(table, "agency_id = cit_current_agency()")

    # An agency reads its own row (name, timezone, longest shift) and nothing else.
    op.execute(f"GRANT SELECT ON agency TO {APP_ROLE}")
    _isolate("agency", "id = cit_current_agency()")

    # The person-level registry: readable by every agency that employs or employed the
    # person; recorded only in the recording agency's name.
    op.execute(f"GRANT SELECT, INSERT ON certification TO {APP_ROLE}")
    _isolate(
        "certification",
        "EXISTS (SELECT 1 FROM officer o WHERE o.state_officer_id = certification.state_officer_id"
        " AND o.agency_id = cit_current_agency())",
        "recorded_by_agency_id = cit_current_agency()",
    )

    for function in DEFINER_TRIGGERS:
        op.execute(f"ALTER FUNCTION {function} SECURITY DEFINER SET search_path = public, pg_temp")

    op.execute(AUTHENTICATE)
    op.execute(AUTH_FAILURE)
    op.execute(APPEND_ONLY)
    op.execute(
        "CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit_entry"
        " FOR EACH ROW EXECUTE FUNCTION audit_append_only()"
    )
    op.execute(PURGE)
    op.execute("REVOKE ALL ON FUNCTION cit_purge_audit(interval) FROM PUBLIC")
    op.execute(
        "CREATE INDEX ix_audit_entry_agency_action_at ON audit_entry (agency_id, action, at)"
    )
    _coverage_index(["agency_id", "district_id", "starts_at"])


def downgrade() -> None:
    _coverage_index(["district_id", "starts_at"])
    op.execute("DROP INDEX IF EXISTS ix_audit_entry_agency_action_at")
    op.execute("DROP FUNCTION IF EXISTS cit_purge_audit(interval)")
    op.execute("DROP TRIGGER IF EXISTS audit_append_only ON audit_entry")
    op.execute("DROP FUNCTION IF EXISTS audit_append_only()")
    op.execute("DROP FUNCTION IF EXISTS cit_record_auth_failure(text, text, jsonb)")
    op.execute("DROP FUNCTION IF EXISTS cit_authenticate(bytea)")
    for function in DEFINER_TRIGGERS:
        op.execute(f"ALTER FUNCTION {function} SECURITY INVOKER RESET search_path")
    for table in [*AGENCY_TABLES, "agency", "certification"]:
        op.execute(f"DROP POLICY IF EXISTS cit_agency ON {table}")
        op.execute(f"DROP POLICY IF EXISTS cit_owner ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
        op.execute(f"REVOKE ALL ON {table} FROM {APP_ROLE}")
    op.execute("DROP FUNCTION IF EXISTS cit_current_agency()")
    # The role is shared by every database on the server, so it is left in place.
