"""A certification can be voided: expires_on on its certified_on, valid on no day

A certification is valid on the days d with certified_on <= d < expires_on. Until now
expires_on had to be after certified_on, so the earliest a correction could end one was
the day after it began: a certification recorded in error (the wrong person, or one the
state never granted), or revoked on its first day, kept its officer CIT, and routing
sent them to lead armed crisis calls, until the agency's next midnight at least. An
expires_on equal to certified_on now records that: an empty span, valid on no day. New
certifications (POST) still need a span of at least one day (app/schemas/roster.py).

cit_periods_of (migration 0003) aggregates daterange(certified_on, expires_on), which is
empty for such a row, so the candidate query's read model drops it at once through
certification_to_coverage, as it does an early end.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint(
        op.f("ck_certification_expires_after_certified"), "certification", type_="check"
    )
    op.create_check_constraint(
        op.f("ck_certification_expires_on_or_after_certified"),
        "certification",
        "expires_on >= certified_on",
    )


def downgrade() -> None:
    # The old constraint cannot hold a voided certification. Giving it a day back would
    # make its officer CIT on that day, and deleting it would lose the state's record:
    # the operator decides.
    voided = op.get_bind().execute(
        sa.text("SELECT count(*) FROM certification WHERE expires_on = certified_on")
    )
    if voided.scalar_one():
        raise RuntimeError(
            "certifications voided with expires_on = certified_on exist; migration 0021 cannot"
            " hold them: remove or correct them first"
        )
    op.drop_constraint(
        op.f("ck_certification_expires_on_or_after_certified"), "certification", type_="check"
    )
    op.create_check_constraint(
        op.f("ck_certification_expires_after_certified"),
        "certification",
        "expires_on > certified_on",
    )
