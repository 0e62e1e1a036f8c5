"""Revoke the unit keys of responders deactivated before deactivation revoked them

Since this release, deactivating an officer or a co-responder revokes its unit keys
(app/services/roster.py). A responder deactivated earlier may still have valid unit keys:
its terminal could still report status and read the live feed. They are revoked now, as
the deactivation would have; the downgrade leaves them revoked (a revocation is for good).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02 22:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE api_key k SET revoked_at = now()"
        " WHERE k.role = 'unit' AND k.revoked_at IS NULL"
        " AND (EXISTS (SELECT 1 FROM officer o WHERE o.id = k.responder_id AND NOT o.active)"
        "   OR EXISTS (SELECT 1 FROM co_responder c WHERE c.id = k.responder_id AND NOT c.active))"
    )


def downgrade() -> None:
    pass  # a revoked key stays revoked
