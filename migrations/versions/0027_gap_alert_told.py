"""A coverage gap's alert remembers the end it told

A gap alert was sent once per key, the key naming the gap (district, kind, start) and, for
a gap told without an end, ":open". A gap whose end moved (a cancelled shift stretched it)
was never told again, and one whose end moved back to an end told before would not be
either: the key cannot say which end was told last. `told` holds it ("open", or the end),
and the housekeeping loop tells the gap again when it differs (app/services/alerts.py).

The rows written before are rewritten to one row per gap, the newest: a plain key (told
with an end, which one unknown) keeps `told` NULL, and the loop takes the end it sees as
told, silently; an ":open" key becomes `told` "open"; a key of the interim form
(":to:<end>") gets that end.

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
# offset), then nothing (told with an end, which one unknown), ":open" or ":to:<end>".
_GAP = (
    r"^(coverage\.gap_ahead:[^:]+:[^:]+:\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?"
    r"[+-]\d{2}:\d{2})(:open|:to:(.+))?$"
)
# Each gap alert row as (gap, told), numbered newest first in its gap (1: the last told).
# The gap's key, kept whole in a row of its own so that the rows dropped are gone before
# the one kept takes the gap's key (two statements).
_NUMBERED = """
CREATE TEMPORARY TABLE gap_alert AS
SELECT agency_id, key, m[1] AS gap,
       CASE WHEN m[2] = :open THEN 'open' ELSE m[3] END AS told,
       row_number() OVER (PARTITION BY agency_id, m[1]
                          ORDER BY created_at DESC, key DESC) AS newness
FROM (SELECT a.*, regexp_match(a.key, :gap) AS m FROM alert_sent a) parsed
WHERE m IS NOT NULL
"""
_DROP_OLDER = """
DELETE FROM alert_sent a USING gap_alert p
WHERE a.agency_id = p.agency_id AND a.key = p.key AND p.newness > 1
"""
_KEEP_NEWEST = """
UPDATE alert_sent a SET key = p.gap, told = p.told
FROM gap_alert p
WHERE a.agency_id = p.agency_id AND a.key = p.key AND p.newness = 1 AND p.key <> p.gap
"""


def upgrade() -> None:
    op.add_column("alert_sent", sa.Column("told", sa.Text(), nullable=True))
    op.execute(f"GRANT UPDATE (told, created_at) ON alert_sent TO {APP_ROLE}")
    # One row per gap: the newest, whatever its form. The pattern and the suffix are
    # bound: text() would read ":open" as a parameter.
    bind = op.get_bind()
    bind.execute(sa.text(_NUMBERED), {"open": ":open", "gap": _GAP})
    bind.execute(sa.text(_DROP_OLDER))
    bind.execute(sa.text(_KEEP_NEWEST))
    bind.execute(sa.text("DROP TABLE gap_alert"))


def downgrade() -> None:
    # The rows stay one per gap, as told before the end was remembered; an open one keeps
    # its ":open" key, so the older release tells it again once it has an end.
    op.get_bind().execute(
        sa.text("UPDATE alert_sent SET key = key || :open WHERE told = 'open'"), {"open": ":open"}
    )
    op.execute(f"REVOKE UPDATE (told, created_at) ON alert_sent FROM {APP_ROLE}")
    op.drop_column("alert_sent", "told")
