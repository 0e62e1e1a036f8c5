"""A coverage gap's alert remembers the end it told

A gap alert was sent once per key, the key naming the gap (district, kind, start) and, for
a gap told without an end, ":open". A gap whose end moved (a cancelled shift stretched it)
was never told again, and one whose end moved back to an end told before would not be
either: the key cannot say which end was told last. `told` holds it ("open", or the end),
and the housekeeping loop tells the gap again when it differs (app/services/alerts.py).

The rows written before are rewritten to one row per gap: a gap told open and then with an
end keeps the row of the end, whose `told` is unknown (NULL: the loop takes the end it
sees as told, silently); one told open only gets `told` "open". Rows written by the
interim form (a key ending ":to:<end>") keep the latest, with that end.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-04 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "cit_app"
# A gap's key: the district (no ':' in a code), the kind, the start (ISO 8601, with its
# offset), then ":open" or ":to:<end>" for the suffixed forms.
_GAP = (
    r"^(coverage\.gap_ahead:[^:]+:[^:]+:\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?"
    r"[+-]\d{2}:\d{2})(:open|:to:(.+))$"
)


def upgrade() -> None:
    op.add_column("alert_sent", sa.Column("told", sa.Text(), nullable=True))
    op.execute(f"GRANT UPDATE (told, created_at) ON alert_sent TO {APP_ROLE}")
    # Each suffixed row as (gap, told); the newest per gap is kept, and a gap's plain row
    # (told with an end, which one unknown) is kept over them all.
    # The pattern and the suffix are bound: text() would read ":open" as a parameter.
    op.get_bind().execute(
        sa.text("""
        WITH suffixed AS (
            SELECT agency_id, key, created_at, m[1] AS gap,
                   CASE WHEN m[2] = :open THEN 'open' ELSE m[3] END AS told
            FROM (SELECT a.*, regexp_match(a.key, :gap) AS m FROM alert_sent a) parsed
            WHERE m IS NOT NULL
        ), kept AS (
            SELECT DISTINCT ON (agency_id, gap) agency_id, key, gap, told
            FROM suffixed s
            WHERE NOT EXISTS (SELECT 1 FROM alert_sent p
                              WHERE p.agency_id = s.agency_id AND p.key = s.gap)
            ORDER BY agency_id, gap, created_at DESC, key DESC
        ), dropped AS (
            DELETE FROM alert_sent a USING suffixed s
            WHERE a.agency_id = s.agency_id AND a.key = s.key
              AND NOT EXISTS (SELECT 1 FROM kept k
                              WHERE k.agency_id = s.agency_id AND k.key = s.key)
        )
        UPDATE alert_sent a SET key = k.gap, told = k.told
        FROM kept k WHERE a.agency_id = k.agency_id AND a.key = k.key
        """),
        {"open": ":open", "gap": _GAP},
    )


def downgrade() -> None:
    # The rows stay one per gap, as told before the end was remembered; an open one keeps
    # its ":open" key, so the older release tells it again once it has an end.
    op.get_bind().execute(
        sa.text("UPDATE alert_sent SET key = key || :open WHERE told = 'open'"), {"open": ":open"}
    )
    op.execute(f"REVOKE UPDATE (told, created_at) ON alert_sent FROM {APP_ROLE}")
    op.drop_column("alert_sent", "told")
