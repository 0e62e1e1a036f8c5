"""EIDO import: the last EIDO applied to a call, and external_id up to 255 characters

`call.eido_updated_at` is the `lastUpdateTimeStamp` of the last EIDO (NENA-STA-021) applied
to the call: an EIDO that is not newer changes nothing, so a replayed document is imported
once. An EIDO's `$id` (its Incident Tracking Identifier) becomes the call's external_id;
those may be longer than the 64 characters the API took until now, so external_id is held
to 1-255 characters, in the database as in the API.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("call", sa.Column("eido_updated_at", sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint(
        op.f("ck_call_external_id"), "call", "char_length(external_id) BETWEEN 1 AND 255"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_call_external_id"), "call", type_="check")
    op.drop_column("call", "eido_updated_at")
