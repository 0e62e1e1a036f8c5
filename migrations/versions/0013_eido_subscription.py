"""The STA-024 subscriptions agencies hold with EIDO notifiers

`cit-dispatch eido-subscribe` keeps its subscription id here, per agency and notifier URL,
so that after a restart it renews the same subscription and the notifier sends again the
events it could not deliver meanwhile.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "cit_app"
TABLE = "eido_subscription"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("agency_id", sa.UUID(), nullable=False),
        sa.Column("notifier_url", sa.Text(), nullable=False),
        sa.Column("subscription_id", sa.Text(), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name="fk_eido_subscription_agency_id_agency"
        ),
        sa.PrimaryKeyConstraint("agency_id", "notifier_url", name="pk_eido_subscription"),
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON {TABLE} TO {APP_ROLE}")
    # Row-level security as migration 0006 set it for every agency-scoped table.
    op.execute(f"ALTER TABLE {TABLE} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {TABLE} FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY cit_owner ON {TABLE} TO CURRENT_USER USING (true) WITH CHECK (true)")
    op.execute(
        f"CREATE POLICY cit_agency ON {TABLE} TO {APP_ROLE}"
        " USING (agency_id = cit_current_agency()) WITH CHECK (agency_id = cit_current_agency())"
    )


def downgrade() -> None:
    op.drop_table(TABLE)
