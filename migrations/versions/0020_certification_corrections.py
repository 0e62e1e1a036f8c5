"""The agency that recorded a certification may correct it, or end it early

PATCH /v1/certifications/{id} (app/services/certifications.py) changes a certification's
dates, program or volunteered flag: a decertification sets expires_on to the day it took
effect. cit_app gets UPDATE on those columns only (whose it is, its number and who recorded
it never change), and a restrictive policy lets it update only the rows its agency recorded:
another agency's record, which it may read, is never changed by it, whatever the service
checks. certification_to_coverage (migration 0003) already follows updates into the
candidate query's read model.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 02:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "cit_app"


def upgrade() -> None:
    op.execute(
        "GRANT UPDATE (certified_on, expires_on, program, volunteered) ON certification"
        f" TO {APP_ROLE}"
    )
    op.execute(
        f"CREATE POLICY cit_recorder ON certification AS RESTRICTIVE FOR UPDATE TO {APP_ROLE}"
        " USING (recorded_by_agency_id = cit_current_agency())"
    )


def downgrade() -> None:
    op.execute("DROP POLICY IF EXISTS cit_recorder ON certification")
    op.execute(
        "REVOKE UPDATE (certified_on, expires_on, program, volunteered) ON certification"
        f" FROM {APP_ROLE}"
    )
