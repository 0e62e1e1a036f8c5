"""A subscription's signing secret can be rotated, its previous one kept for a while

POST /v1/webhooks/{id}/secret (app/services/webhooks.py) gives a subscription a new secret.
The one it replaces goes to previous_secret and signs beside the new one until
previous_secret_until: each delivery then carries both signatures (Standard Webhooks allows
several, space-separated), and a receiver moves to the new secret when it is ready, without
missing or refusing a delivery. Encrypted as the secret is, bound to its own column.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("webhook_subscription", sa.Column("previous_secret", sa.Text(), nullable=True))
    op.add_column(
        "webhook_subscription",
        sa.Column("previous_secret_until", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_check_constraint(
        op.f("ck_webhook_subscription_previous_secret_until"),
        "webhook_subscription",
        "(previous_secret IS NULL) = (previous_secret_until IS NULL)",
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("ck_webhook_subscription_previous_secret_until"), "webhook_subscription", type_="check"
    )
    op.drop_column("webhook_subscription", "previous_secret_until")
    op.drop_column("webhook_subscription", "previous_secret")
