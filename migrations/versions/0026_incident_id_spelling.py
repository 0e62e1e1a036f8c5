"""An incident id is kept in one spelling: its prefix and agency part in lower case

An Incident Tracking Identifier (urn:emergency:uid:incidentid:<unique>:<agency>) names the
same incident however its prefix is spelt (a URN's scheme and namespace are
case-insensitive, RFC 8141) and whatever the case of its agency part (a domain name). The
service kept external_id as sent, so `URN:EMERGENCY:…` made a second call for an incident
that already had one. The API now keeps the canonical spelling (app/eido/registry.py,
canonical_incident_id); this migration rewrites the calls written before. Where two calls
hold spellings of one incident (made by that bug), the one already in the canonical
spelling keeps it, else the oldest; the other keeps its spelling, and is found in the
calls list, no longer by the incident's id.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-04 04:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The rule of canonical_incident_id, restated here so that this migration does the same
# whatever that becomes. 29 is the prefix's length.
_REWRITE = """
WITH parts AS (
    SELECT id, agency_id, external_id, substr(external_id, 30) AS rest
    FROM call
    WHERE lower(left(external_id, 29)) = 'urn:emergency:uid:incidentid:'
), spelt AS (
    SELECT id, agency_id, external_id,
           'urn:emergency:uid:incidentid:' || split_part(rest, ':', 1) || ':'
               || lower(substr(rest, strpos(rest, ':') + 1)) AS canonical
    FROM parts
    WHERE strpos(rest, ':') > 1 AND substr(rest, strpos(rest, ':') + 1) <> ''
), chosen AS (
    SELECT DISTINCT ON (agency_id, canonical) id, canonical
    FROM spelt
    WHERE canonical <> external_id
      AND NOT EXISTS (SELECT FROM call o
                      WHERE o.agency_id = spelt.agency_id AND o.external_id = spelt.canonical)
    ORDER BY agency_id, canonical, id
)
UPDATE call c SET external_id = chosen.canonical FROM chosen WHERE c.id = chosen.id
"""


def upgrade() -> None:
    op.execute(_REWRITE)


def downgrade() -> None:
    # The canonical spelling names the same incidents: nothing to undo.
    pass
