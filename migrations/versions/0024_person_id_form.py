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
which rows to resolve. The candidate query's read model (shift_coverage's CIT periods) is
brought up to date for the shifts not yet over of every person rewritten: its officer
trigger does not watch the id.

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

# Rows that would share an id, and so a unique key, once in the one form (listed in a
# fixed order, whatever the server's collation).
_CLASHES = f"""
SELECT 'active officers ' || string_agg(id::text || ' (' || state_officer_id || ')', ', '
                                       ORDER BY state_officer_id COLLATE "C", id)
       || ' of agency ' || agency_id::text
FROM officer WHERE active
GROUP BY agency_id, {_FORM} HAVING count(*) > 1
UNION ALL
SELECT 'certifications ' || string_agg(id::text || ' (' || state_officer_id || ')', ', '
                                       ORDER BY state_officer_id COLLATE "C", id)
       || ' numbered ' || certification_number
FROM certification
GROUP BY {_FORM}, certification_number HAVING count(*) > 1
"""  # noqa: S608 (built from constants)

# The rewrite, returning each person it touched.
_REWRITE = (
    "UPDATE {table} SET state_officer_id = {form} WHERE NOT ({check}) RETURNING state_officer_id"
)

# The candidate query's read model for the shifts not yet over of the people rewritten:
# certification_to_coverage follows the certificates rewritten, but officer_to_coverage
# does not watch state_officer_id, so an officer "ab123" with a certificate "AB123" kept
# the empty periods it had.
_COVERAGE = """
UPDATE shift_coverage sc SET cit_periods = cit_periods_of(o.state_officer_id)
FROM officer o
WHERE sc.responder_type = 'officer' AND sc.responder_id = o.id AND sc.ends_at > now()
  AND o.state_officer_id = ANY (:people)
"""

# How many clashes the message names; the rest it counts.
_NAMED = 10


def upgrade() -> None:
    bind = op.get_bind()
    # Writers wait until the upgrade commits, so none adds a clash after the check below
    # (readers, the consoles and routing, go on).
    op.execute("LOCK TABLE officer, certification IN SHARE ROW EXCLUSIVE MODE")
    clashes = bind.execute(sa.text(_CLASHES)).scalars().all()
    if clashes:
        # Alembic's error for its user: `cit-dispatch migrate` and `serve` print it in a line.
        raise CommandError(_clash_message(clashes))
    people: set[str] = set()
    for table in ("officer", "certification"):
        rewrite = _REWRITE.format(table=table, form=_FORM, check=_CHECK)
        people.update(bind.execute(sa.text(rewrite)).scalars())
    if people:
        bind.execute(sa.text(_COVERAGE), {"people": sorted(people)})
    for table in ("officer", "certification"):
        op.create_check_constraint(op.f(f"ck_{table}_state_officer_id_form"), table, _CHECK)


def _clash_message(clashes: Sequence[str]) -> str:
    """What stopped the upgrade, and what the operator does about it, in one line."""
    more = len(clashes) - _NAMED
    steps = []
    if any(clash.startswith("active officers") for clash in clashes):
        steps.append(
            "deactivate all but one of such officers"
            ' (PATCH /v1/officers/{id} with {"active": false})'
        )
    if any(clash.startswith("certifications") for clash in clashes):
        # The API voids a certification but keeps its row: only its owner may delete it.
        steps.append(
            "delete all but one of such certifications as the database's owner"
            " (DELETE FROM certification WHERE id = '…')"
        )
    return (
        "state_officer_id is now matched whatever the case of its letters, and these rows"
        " name one person twice: "
        + "; ".join(clashes[:_NAMED])
        + (f"; and {more} more" if more > 0 else "")
        + ". Nothing was changed: "
        + ", and ".join(steps)
        + ", then upgrade again"
    )


def downgrade() -> None:
    # The ids stay in the one form: migration 0023 holds them as well as any other.
    for table in ("certification", "officer"):
        op.drop_constraint(op.f(f"ck_{table}_state_officer_id_form"), table, type_="check")
