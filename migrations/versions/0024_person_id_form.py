"""A person's statewide id is kept in one form: its ASCII letters in upper case

A certification belongs to the person, named by state_officer_id, and follows them to any
agency that employs them. The match was exact: an officer hired as "ab123" by one agency
did not carry the certification another recorded for "AB123", so routing did not count
them as CIT. The API now keeps every state_officer_id with its ASCII letters upper-cased
(app/vocabulary.py, person_id); this migration rewrites the rows written before in that
form and adds a CHECK on both tables that holds every row to it.

Rewriting could join two rows that the unique indexes keep apart: two active officers of
one agency whose ids differ only in case (one person twice on the roster), or one
certificate recorded for "ab123" and for "AB123" (the same certificate twice). Which one is
right is the agencies' call, so the upgrade then stops before changing anything, and says
which rows to resolve. The triggers of migrations 0003 and 0020 follow the rewrite into
the candidate query's read model, as they follow any change of an officer or certificate.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-03 14:00:00
"""

from __future__ import annotations

import string
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from alembic.util import CommandError

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FORM = f"translate(state_officer_id, '{string.ascii_lowercase}', '{string.ascii_uppercase}')"
_CHECK = f"state_officer_id = {_FORM}"

# Rows that would share an id, and so a unique key, once in the one form.
_CLASHES = f"""
SELECT 'active officers ' || string_agg(id::text || ' (' || state_officer_id || ')', ', '
                                       ORDER BY state_officer_id, id)
       || ' of agency ' || agency_id::text
FROM officer WHERE active
GROUP BY agency_id, {_FORM} HAVING count(*) > 1
UNION ALL
SELECT 'certifications ' || string_agg(id::text || ' (' || state_officer_id || ')', ', '
                                       ORDER BY state_officer_id, id)
       || ' numbered ' || certification_number
FROM certification
GROUP BY {_FORM}, certification_number HAVING count(*) > 1
"""  # noqa: S608 (built from constants)


def upgrade() -> None:
    bind = op.get_bind()
    clashes = bind.execute(sa.text(_CLASHES)).scalars().all()
    if clashes:
        # Alembic's error for its user: `cit-dispatch migrate` and `serve` print it in a line.
        raise CommandError(
            "state_officer_id is now matched whatever the case of its letters, and these rows"
            " name one person twice: "
            + "; ".join(clashes)
            + ". Deactivate all but one of such officers, and delete all but one of such"
            " certifications, then upgrade again"
        )
    for table in ("officer", "certification"):
        rewrite = f"UPDATE {table} SET state_officer_id = {_FORM} WHERE NOT ({_CHECK})"  # noqa: S608 (built from constants)
        op.execute(rewrite)
        op.create_check_constraint(op.f(f"ck_{table}_state_officer_id_form"), table, _CHECK)


def downgrade() -> None:
    # The ids stay in the one form: migration 0023 holds them as well as any other.
    for table in ("certification", "officer"):
        op.drop_constraint(op.f(f"ck_{table}_state_officer_id_form"), table, type_="check")
