"""A success no longer lifts a lockout in effect

`cit_auth_succeeded` (migration 0015) deleted the (client, prefix) count whatever it held.
An instance that had not yet heard of a lockout (announcements take up to a second) could
admit the right key from the locked-out address and so lift the lockout for every
instance: guessing from that address could start over at once. Now a success clears only
a count that is not locked out, and returns the lockout that stands: the instance learns
it at once, and refuses the request.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 13:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The channel app/services/changes.py listens to (CHANNEL there).
CHANNEL = "cit_changed"
DEFINER = "SECURITY DEFINER SET search_path = public, pg_temp"

AUTH_SUCCEEDED = f"""
CREATE FUNCTION cit_auth_succeeded(client text, key_prefix text)
RETURNS TABLE (failures integer, locked_for double precision)
LANGUAGE plpgsql VOLATILE {DEFINER} AS $$
DECLARE
    t timestamptz := clock_timestamp();
BEGIN
    DELETE FROM auth_failure f WHERE f.client = cit_auth_succeeded.client
       AND f.prefix = coalesce(key_prefix, '')
       AND coalesce(f.locked_until, '-infinity') <= t;
    IF FOUND THEN
        PERFORM pg_notify('{CHANNEL}', 'auth ' || json_build_object(
            'client', client, 'prefix', coalesce(key_prefix, ''), 'failures', 0,
            'locked_for', NULL)::text);
        RETURN;
    END IF;
    RETURN QUERY
        SELECT f.failures, extract(epoch FROM f.locked_until - t)::double precision
          FROM auth_failure f
         WHERE f.client = cit_auth_succeeded.client AND f.prefix = coalesce(key_prefix, '')
           AND f.locked_until > t;
END;
$$
"""  # noqa: S608 (built from constants)

# Migration 0015's, restored by the downgrade.
AUTH_SUCCEEDED_0015 = f"""
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


def upgrade() -> None:
    # Its result type changes, which CREATE OR REPLACE cannot do.
    op.execute("DROP FUNCTION cit_auth_succeeded(text, text)")
    op.execute(AUTH_SUCCEEDED)


def downgrade() -> None:
    op.execute("DROP FUNCTION cit_auth_succeeded(text, text)")
    op.execute(AUTH_SUCCEEDED_0015)
