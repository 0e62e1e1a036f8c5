"""Stream tickets: a browser's short-lived, single-use pass to open one live feed

A browser's EventSource cannot send an Authorization header (SPEC §6.5). Its back end, or
the page itself, trades the key for a ticket (`POST /v1/stream/tickets`), which the page
puts in the stream's URL (`GET /v1/stream?ticket=`). Only the ticket's SHA-256 is stored,
with the key that asked for it: the feed acts as that key, and a ticket dies with its key.

The ticket is presented before its agency is known, so `cit_app` redeems it through a
definer-rights function, like the key lookup (migration 0006): `cit_redeem_stream_ticket`
deletes the ticket whatever its age (single use) and returns its key's hash if it was
still fresh; the key's own validity is then checked as for any request. Housekeeping (as
the owner) removes tickets never redeemed.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "cit_app"
TABLE = "stream_ticket"

REDEEM = """
CREATE FUNCTION cit_redeem_stream_ticket(ticket_digest bytea) RETURNS bytea
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    WITH used AS (
        DELETE FROM stream_ticket t WHERE t.digest = ticket_digest RETURNING t.key_id, t.expires_at
    )
    SELECT k.key_hash FROM used u JOIN api_key k ON k.id = u.key_id
     WHERE u.expires_at > now()
$$
"""


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("digest", sa.LargeBinary(), nullable=False),
        sa.Column("agency_id", sa.UUID(), nullable=False),
        sa.Column("key_id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name="fk_stream_ticket_agency_id_agency"
        ),
        sa.ForeignKeyConstraint(
            ["key_id"], ["api_key.id"], name="fk_stream_ticket_key_id_api_key", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("digest", name="pk_stream_ticket"),
    )
    op.create_index("ix_stream_ticket_key_id", TABLE, ["key_id"])
    op.create_index("ix_stream_ticket_expires_at", TABLE, ["expires_at"])
    op.execute(f"GRANT SELECT, INSERT ON {TABLE} TO {APP_ROLE}")
    # Row-level security as migration 0006 set it for every agency-scoped table.
    op.execute(f"ALTER TABLE {TABLE} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {TABLE} FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY cit_owner ON {TABLE} TO CURRENT_USER USING (true) WITH CHECK (true)")
    op.execute(
        f"CREATE POLICY cit_agency ON {TABLE} TO {APP_ROLE}"
        " USING (agency_id = cit_current_agency()) WITH CHECK (agency_id = cit_current_agency())"
    )
    op.execute(REDEEM)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS cit_redeem_stream_ticket(bytea)")
    op.drop_table(TABLE)
