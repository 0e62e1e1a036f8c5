from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import CheckConstraint, ForeignKey, LargeBinary, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at_column, id_column
from app.vocabulary import RESPONDER_TYPES, ROLES, sql_list


class ApiKey(Base):
    __tablename__ = "api_key"
    __table_args__ = (
        CheckConstraint(f"role IN {sql_list(ROLES)}", name="role"),
        CheckConstraint(
            "(role = 'unit') = (responder_id IS NOT NULL)", name="unit_role_has_responder"
        ),
        CheckConstraint(
            f"responder_type IS NULL OR responder_type IN {sql_list(RESPONDER_TYPES)}",
            name="responder_type",
        ),
    )

    id: Mapped[UUID] = id_column()
    agency_id: Mapped[UUID] = mapped_column(ForeignKey("agency.id"), index=True)
    role: Mapped[str] = mapped_column(Text)
    responder_type: Mapped[str | None] = mapped_column(Text)
    responder_id: Mapped[UUID | None]
    # Shown in lists and logs so a key can be recognised without revealing it.
    prefix: Mapped[str] = mapped_column(Text, unique=True)
    # SHA-256 of the whole key: keys are 32 random bytes, so a fast hash is enough.
    key_hash: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    name: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
