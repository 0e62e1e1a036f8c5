"""An incident id is kept in one spelling: its prefix and agency part in lower case

An Incident Tracking Identifier (urn:emergency:uid:incidentid:<unique>:<agency>) names the
same incident however its prefix is spelt (a URN's scheme and namespace are
case-insensitive, RFC 8141) and whatever the case of its agency part (a domain name, in
ASCII: only ASCII letters are folded, in Python, as the service folds them). The
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

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PREFIX = "urn:emergency:uid:incidentid:"
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _canonical(value: str) -> str:
    """The rule of app/eido/registry.py's canonical_incident_id, restated here so that this
    migration does the same whatever that becomes: ASCII letters only are folded (as the
    database's lower() would fold others too, the rule is applied here, not in SQL)."""
    if value[: len(_PREFIX)].translate(_ASCII_LOWER) != _PREFIX:
        return value
    if any(c.isspace() or not c.isprintable() for c in value):
        return value
    unique, _, agency = value[len(_PREFIX) :].partition(":")
    if not unique or not agency:
        return value
    return f"{_PREFIX}{unique}:{agency.translate(_ASCII_LOWER)}"


# The calls whose id may not be canonical: of the prefix's form in any case, with a capital
# somewhere (an id all in lower case is canonical already). Oldest first, a page at a time:
# a CAD whose unique ids are in capitals has every call here, and most need nothing.
_CANDIDATES = sa.text(
    "SELECT id, agency_id, external_id FROM call"
    " WHERE external_id ILIKE 'urn:emergency:uid:incidentid:%'"
    " AND external_id <> lower(external_id) AND id > :after ORDER BY id LIMIT 5000"
)
_HELD = sa.text(
    "SELECT agency_id, external_id FROM call WHERE external_id = ANY(CAST(:ids AS text[]))"
)
_REWRITE = sa.text("UPDATE call SET external_id = :external_id WHERE id = :id")


def upgrade() -> None:
    conn = op.get_bind()
    wanted: dict[tuple[object, str], object] = {}  # (agency, canonical id) -> oldest call
    after = "00000000-0000-0000-0000-000000000000"
    while rows := conn.execute(_CANDIDATES, {"after": after}).all():
        for row in rows:
            canonical = _canonical(row.external_id)
            if canonical != row.external_id:
                wanted.setdefault((row.agency_id, canonical), row.id)
        after = rows[-1].id
    if not wanted:
        return
    ids = sorted({canonical for _, canonical in wanted})
    held = {(r.agency_id, r.external_id) for r in conn.execute(_HELD, {"ids": ids})}
    for (agency_id, canonical), call_id in wanted.items():
        if (agency_id, canonical) not in held:  # a call already spelt so keeps it
            conn.execute(_REWRITE, {"id": call_id, "external_id": canonical})


def downgrade() -> None:
    # The canonical spelling names the same incidents: nothing to undo.
    pass
