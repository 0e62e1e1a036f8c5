"""A call keeps a digest of the notes of the last EIDO applied to it

A CAD's document was compared with the notes the call holds, but dispatchers edit those
(`PATCH`, a clear's notes): the CAD's closing document, its notes unchanged, was "notes
changed" for a call a dispatcher had cleared with notes, a 409 audited as an error, and
on an open call the CAD's unchanged notes took the place of a dispatcher's edit. A
document whose own notes are those of the last one applied now tells nothing about notes
(docs/api.md, "EIDO").

`eido_notes_digest` is the SHA-256 of that document's own notes (before the lines telling
its cautions not read), encrypted at rest as the notes are (`call.eido_notes_digest`,
bound to its row; `rekey` moves it to the current key): a bare digest of short notes
would let anyone reading the table guess them. NULL for a call no EIDO with notes was
applied to, and for every call imported before this migration, which the service compares
by the notes it holds, as before. Adding a nullable column rewrites nothing: a moment
under the table's lock.

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-05 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("call", sa.Column("eido_notes_digest", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("call", "eido_notes_digest")
