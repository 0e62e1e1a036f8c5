"""A unit is busy while its status is an on-call one, named incident or not

Migration 0018 indexed the units busy on a call as those with a cit-dispatch call
(active_call_id) or a CAD's incident (external_incident). A unit the CAD sends to an
incident of its own without naming it (a status report of `on_scene` with no
external_incident) is busy as well: GET /v1/units lost sight of it once its shift ended,
while it was still on scene. Busy is now its status: dispatched, en_route, on_scene or
transporting, which every unit on a call, of either kind, has. The partial indexes follow.

A unit deactivated while busy on a CAD's incident (refused now; named or not, as earlier
releases let go) is made out_of_service, off the incident, as it would have had to report
before its deactivation (which clears external_incident): reactivated, it
would show busy on an incident long over, and stay on the consoles past its shift. It is
not recommended until it reports available (a downgrade leaves it so).

Revision ID: 0041
Revises: 0040
Create Date: 2026-12-06 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0041"
down_revision: str | None = "0040"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As app.models.responder.BUSY, written out: a migration keeps what it meant when written.
BUSY = "status IN ('dispatched', 'en_route', 'on_scene', 'transporting')"
# Migration 0018's.
NAMED = "active_call_id IS NOT NULL OR external_incident IS NOT NULL"


def _index(where: str) -> None:
    for table in ("officer", "co_responder"):
        op.drop_index(f"ix_{table}_busy", table_name=table)
        op.create_index(f"ix_{table}_busy", table, ["agency_id"], postgresql_where=sa.text(where))


def upgrade() -> None:
    for table in ("officer", "co_responder"):
        op.execute(
            f"UPDATE {table} SET status = 'out_of_service', status_at = now(),"  # noqa: S608
            " external_incident = NULL"
            f" WHERE NOT active AND active_call_id IS NULL AND ({BUSY})"
        )
    _index(BUSY)


def downgrade() -> None:
    _index(NAMED)
