"""Limits shared by every instance, and changes announced to every instance

Several `serve` processes on one database must hold one budget between them (SPEC §9):

- `rate_bucket`: each API key's token bucket (CIT_RATE_LIMIT_PER_MINUTE). Instances take
  tokens in small chunks with `cit_take_tokens`, one UPDATE whose arithmetic refills and
  spends atomically under the row lock, so concurrent takers never both spend one token.
- `auth_failure`: failed authentications per client address and key prefix (prefix '' for
  none, '*' for the address over all prefixes), with the lockout window. `cit_auth_failed`
  records the audit entry, counts and locks in one round trip; `cit_auth_succeeded` clears
  a (client, prefix) count. Both announce what they changed.
- Announcements on `cit_changed`, sent at commit (pg_notify is transactional): `key <id>`
  when a key is revoked, re-dated or removed; `agency <id>` when its districts, adjacency,
  policy or time zone change; `auth <json>` when a failure count or lockout changes. Every
  instance listens (app/services/changes.py) and drops what it cached.
- `cit_authenticate` also returns the key's expiry, so no instance caches a key past it.

Both tables belong to no agency: `cit_app` has no privilege on them and reaches them only
through these definer-rights functions, like the key lookup (migration 0006).
Housekeeping (as the owner) removes stale rows.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 12:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "cit_app"
# The channel app/services/changes.py listens to (CHANNEL there).
CHANNEL = "cit_changed"
DEFINER = "SECURITY DEFINER SET search_path = public, pg_temp"

# A bucket's level at a moment: what it held, refilled at capacity a minute, never over.
BUCKET_LEVEL = """
CREATE FUNCTION cit_bucket_level(tokens double precision, at timestamptz, t timestamptz,
                                 capacity integer)
RETURNS double precision LANGUAGE sql IMMUTABLE AS $$
    SELECT least(capacity::double precision,
                 tokens + greatest(0, extract(epoch FROM t - at)::double precision)
                          * capacity / 60.0)
$$
"""

# One UPDATE computes refill and spend from the row as locked, so instances that take at
# once are serialised by the row lock and each sees what the other left (no lost update).
TAKE_TOKENS = f"""
CREATE FUNCTION cit_take_tokens(key uuid, capacity integer, wanted integer)
RETURNS TABLE (taken integer, left_over double precision)
LANGUAGE plpgsql VOLATILE {DEFINER} AS $$
DECLARE
    t timestamptz := clock_timestamp();
BEGIN
    LOOP
        UPDATE rate_bucket b
           SET granted = least(wanted, floor(cit_bucket_level(b.tokens, b.at, t, capacity))),
               tokens = cit_bucket_level(b.tokens, b.at, t, capacity)
                        - least(wanted, floor(cit_bucket_level(b.tokens, b.at, t, capacity))),
               at = greatest(b.at, t)
         WHERE b.key_id = key
        RETURNING b.granted, b.tokens INTO taken, left_over;
        IF FOUND THEN
            RETURN NEXT;
            RETURN;
        END IF;
        INSERT INTO rate_bucket (key_id, tokens, granted, at)
        VALUES (key, capacity - least(wanted, capacity), least(wanted, capacity), t)
        ON CONFLICT (key_id) DO NOTHING
        RETURNING granted, tokens INTO taken, left_over;
        IF FOUND THEN
            RETURN NEXT;
            RETURN;
        END IF;
        -- Another instance made the row between the two: update it.
    END LOOP;
END;
$$
"""  # noqa: S608 (built from constants)

# Count one failure against (client, prefix), lock at the limit; stale counts start over.
_COUNT = """
    INSERT INTO auth_failure AS f (client, prefix, failures, first_at)
    VALUES (client, {prefix}, 1, t)
    ON CONFLICT ON CONSTRAINT pk_auth_failure DO UPDATE SET
        failures = CASE WHEN {stale} THEN 1 ELSE f.failures + 1 END,
        first_at = CASE WHEN {stale} THEN t ELSE f.first_at END,
        locked_until = CASE WHEN {stale} THEN NULL ELSE f.locked_until END
    RETURNING f.* INTO {row};
    IF {row}.failures >= {limit} THEN
        UPDATE auth_failure f SET locked_until = t + lockout
         WHERE f.client = {row}.client AND f.prefix = {row}.prefix
        RETURNING f.* INTO {row};
    END IF;
    PERFORM pg_notify('{channel}', 'auth ' || cit_auth_state({row}, t));"""
_STALE = "f.first_at < t - lockout AND coalesce(f.locked_until, '-infinity') <= t"

AUTH_STATE = f"""
CREATE FUNCTION cit_auth_state(f auth_failure, t timestamptz) RETURNS text
LANGUAGE sql STABLE {DEFINER} AS $$
    SELECT json_build_object(
        'client', f.client, 'prefix', f.prefix, 'failures', f.failures,
        'locked_for', extract(epoch FROM f.locked_until - t)::double precision)::text
$$
"""  # noqa: S608 (built from constants)

_COUNT_KEY = _COUNT.format(
    prefix="coalesce(key_prefix, '')", stale=_STALE, row="k", limit="per_key", channel=CHANNEL
)
_COUNT_CLIENT = _COUNT.format(
    prefix="'*'", stale=_STALE, row="c", limit="per_client", channel=CHANNEL
)

AUTH_FAILED = f"""
CREATE FUNCTION cit_auth_failed(client text, key_prefix text, request_id text, detail jsonb,
                                per_key integer, per_client integer, lockout interval)
RETURNS TABLE (failures integer, locked_for double precision,
               client_failures integer, client_locked_for double precision)
LANGUAGE plpgsql VOLATILE {DEFINER} AS $$
DECLARE
    t timestamptz := clock_timestamp();
    k auth_failure;
    c auth_failure;
BEGIN
    PERFORM cit_record_auth_failure(key_prefix, request_id, detail);
    {_COUNT_KEY}
    {_COUNT_CLIENT}
    failures := k.failures;
    locked_for := extract(epoch FROM k.locked_until - t);
    client_failures := c.failures;
    client_locked_for := extract(epoch FROM c.locked_until - t);
    RETURN NEXT;
END;
$$
"""

AUTH_SUCCEEDED = f"""
CREATE FUNCTION cit_auth_succeeded(client text, key_prefix text) RETURNS void
LANGUAGE plpgsql VOLATILE {DEFINER} AS $$
BEGIN
    DELETE FROM auth_failure f WHERE f.client = cit_auth_succeeded.client
       AND f.prefix = coalesce(key_prefix, '');
    IF FOUND THEN
        PERFORM pg_notify('{CHANNEL}', 'auth ' || json_build_object(
            'client', client, 'prefix', coalesce(key_prefix, ''), 'failures', 0,
            'locked_for', NULL)::text);
    END IF;
END;
$$
"""  # noqa: S608 (built from constants)

AUTHENTICATE = f"""
CREATE FUNCTION cit_authenticate(digest bytea)
RETURNS TABLE (id uuid, agency_id uuid, role text, responder_type text, responder_id uuid,
               prefix text, expires_at timestamptz)
LANGUAGE sql STABLE {DEFINER} AS $$
    SELECT k.id, k.agency_id, k.role, k.responder_type, k.responder_id, k.prefix, k.expires_at
      FROM api_key k
     WHERE k.key_hash = digest AND k.revoked_at IS NULL
       AND (k.expires_at IS NULL OR k.expires_at > now())
$$
"""  # noqa: S608 (built from constants)

# Migration 0006's lookup, restored on downgrade.
AUTHENTICATE_0006 = f"""
CREATE FUNCTION cit_authenticate(digest bytea)
RETURNS TABLE (id uuid, agency_id uuid, role text, responder_type text, responder_id uuid,
               prefix text)
LANGUAGE sql STABLE {DEFINER} AS $$
    SELECT k.id, k.agency_id, k.role, k.responder_type, k.responder_id, k.prefix
      FROM api_key k
     WHERE k.key_hash = digest AND k.revoked_at IS NULL
       AND (k.expires_at IS NULL OR k.expires_at > now())
$$
"""  # noqa: S608 (built from constants)

# Identical announcements in one transaction are sent once, at commit.
KEY_CHANGED = f"""
CREATE FUNCTION cit_key_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', 'key ' || coalesce(NEW.id, OLD.id)::text);
    RETURN NULL;
END;
$$
"""

CONTEXT_CHANGED = f"""
CREATE FUNCTION cit_context_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', 'agency ' || coalesce(NEW.agency_id, OLD.agency_id)::text);
    RETURN NULL;
END;
$$
"""

AGENCY_CHANGED = f"""
CREATE FUNCTION cit_agency_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', 'agency ' || NEW.id::text);
    RETURN NULL;
END;
$$
"""

# What an agency context (app/agency_context.py, app/repositories/agencies.py) is read from.
CONTEXT_TABLES = ("district", "district_adjacency", "routing_policy")
FUNCTIONS = (
    "cit_auth_failed(text, text, text, jsonb, integer, integer, interval)",
    "cit_auth_succeeded(text, text)",
    "cit_auth_state(auth_failure, timestamptz)",
    "cit_take_tokens(uuid, integer, integer)",
    "cit_bucket_level(double precision, timestamptz, timestamptz, integer)",
)


def upgrade() -> None:
    op.create_table(
        "rate_bucket",
        sa.Column("key_id", sa.UUID(), nullable=False),
        sa.Column("tokens", sa.Double(), nullable=False),
        sa.Column("granted", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"], ["api_key.id"], name="fk_rate_bucket_key_id_api_key", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("key_id", name="pk_rate_bucket"),
    )
    # Updated many times a second: room on each page keeps the updates HOT.
    op.execute("ALTER TABLE rate_bucket SET (fillfactor = 50)")
    op.create_table(
        "auth_failure",
        sa.Column("client", sa.Text(), nullable=False),
        sa.Column("prefix", sa.Text(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("client", "prefix", name="pk_auth_failure"),
    )
    for table in ("rate_bucket", "auth_failure"):
        op.execute(f"REVOKE ALL ON {table} FROM {APP_ROLE}")
    op.execute(BUCKET_LEVEL)
    op.execute(TAKE_TOKENS)
    op.execute(AUTH_STATE)
    op.execute(AUTH_FAILED)
    op.execute(AUTH_SUCCEEDED)
    op.execute("DROP FUNCTION cit_authenticate(bytea)")
    op.execute(AUTHENTICATE)
    op.execute(KEY_CHANGED)
    op.execute(
        "CREATE TRIGGER cit_key_changed AFTER UPDATE OR DELETE ON api_key"
        " FOR EACH ROW EXECUTE FUNCTION cit_key_changed()"
    )
    op.execute(CONTEXT_CHANGED)
    for table in CONTEXT_TABLES:
        op.execute(
            f"CREATE TRIGGER cit_context_changed AFTER INSERT OR UPDATE OR DELETE ON {table}"
            " FOR EACH ROW EXECUTE FUNCTION cit_context_changed()"
        )
    op.execute(AGENCY_CHANGED)
    # longest_shift changes with shifts, but is read by the candidate query, never cached.
    op.execute(
        "CREATE TRIGGER cit_agency_changed AFTER UPDATE OF timezone ON agency"
        " FOR EACH ROW WHEN (OLD.timezone IS DISTINCT FROM NEW.timezone)"
        " EXECUTE FUNCTION cit_agency_changed()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS cit_agency_changed ON agency")
    op.execute("DROP FUNCTION IF EXISTS cit_agency_changed()")
    for table in CONTEXT_TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS cit_context_changed ON {table}")
    op.execute("DROP FUNCTION IF EXISTS cit_context_changed()")
    op.execute("DROP TRIGGER IF EXISTS cit_key_changed ON api_key")
    op.execute("DROP FUNCTION IF EXISTS cit_key_changed()")
    op.execute("DROP FUNCTION cit_authenticate(bytea)")
    op.execute(AUTHENTICATE_0006)
    for function in FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
    op.drop_table("auth_failure")
    op.drop_table("rate_bucket")
