"""Standard Webhooks signatures: HMAC-SHA256 over `id.timestamp.body`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from collections.abc import Sequence
from uuid import UUID

from app.encryption import (
    SUBSCRIPTION_PREVIOUS_SECRET,
    SUBSCRIPTION_SECRET,
    DataCipher,
    UndecryptableValue,
)

log = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)


def new_secret() -> str:
    """A fresh signing secret, `whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, *, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value (`v1,<base64>`) for one attempt."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def sign_with_each(keys: Sequence[str], *, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value with a signature by each secret, space-separated
    (Standard Webhooks): the current secret and, while a rotation's overlap lasts, the one
    it replaced. A receiver accepts the delivery if any of them verifies."""
    return " ".join(sign(key, msg_id=msg_id, timestamp=timestamp, body=body) for key in keys)


def signing_secrets(
    cipher: DataCipher, subscription_id: UUID, *, current: str, previous: str | None
) -> list[str]:
    """The secrets that sign a subscription's delivery, decrypted: its own, and the one a
    rotation replaced while their overlap lasts (previous, None after it). The current
    secret's failure to decrypt is the delivery's (UndecryptableValue); the previous one's
    is logged, and the current one signs alone."""
    keys = [cipher.decrypt(current, column=SUBSCRIPTION_SECRET, row_id=subscription_id)]
    if previous is not None:
        try:
            keys.append(
                cipher.decrypt(
                    previous, column=SUBSCRIPTION_PREVIOUS_SECRET, row_id=subscription_id
                )
            )
        except UndecryptableValue as exc:
            log.error("previous webhook secret cannot be decrypted", extra={"error": str(exc)})
    return keys
