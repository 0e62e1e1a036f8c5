"""Encryption at rest of sensitive columns (call notes and the digest of an EIDO's notes,
webhook secrets) with AES-256-GCM.

A stored value is `enc:v1:<key id>:<urlsafe base64 of nonce || ciphertext>`. The key id is a
short hash of the key, so a value names the key that decrypts it and CIT_DATA_KEY can hold
several keys during a rotation: the first encrypts, every one decrypts. The associated data
binds a value to its column and row, so a ciphertext copied to another row does not decrypt.
A value without the `enc:` prefix is legacy plaintext and is read as it is until `rekey`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.settings import Settings

PREFIX = "enc:"
_VERSION = "v1"
_NONCE_BYTES = 12
_KEY_BYTES = 32
KEY_FILE = "data.key"

# Columns, as named in the associated data.
CALL_NOTES = "call.notes"
CALL_EIDO_NOTES_DIGEST = "call.eido_notes_digest"
SUBSCRIPTION_SECRET = "webhook_subscription.secret"  # noqa: S105 (a column name)
SUBSCRIPTION_PREVIOUS_SECRET = "webhook_subscription.previous_secret"  # noqa: S105 (as above)


class DataKeyError(Exception):
    """CIT_DATA_KEY is missing or malformed (the message never contains a key)."""


class UndecryptableValue(Exception):
    """A stored value was tampered with, moved to another row, or needs a key we lack."""


def generate_key() -> str:
    """A fresh key in the CIT_DATA_KEY format: urlsafe base64 of 32 random bytes."""
    return base64.urlsafe_b64encode(os.urandom(_KEY_BYTES)).decode()


def _key_id(key: bytes) -> str:
    return hashlib.sha256(b"cit-dispatch data key id:" + key).hexdigest()[:8]


def _associated_data(column: str, row_id: UUID) -> bytes:
    return f"{column}:{row_id}".encode()


class DataCipher:
    """Encrypt with the first key; decrypt with whichever key a value names."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise DataKeyError("CIT_DATA_KEY holds no key")
        if any(len(k) != _KEY_BYTES for k in keys):
            raise DataKeyError(f"every CIT_DATA_KEY key must be {_KEY_BYTES} bytes")
        self._keys = {_key_id(k): AESGCM(k) for k in keys}
        self.current_key_id = _key_id(keys[0])
        self._current = self._keys[self.current_key_id]
        # Values encrypted with the current key start with this; `rekey` skips them.
        self.current_prefix = f"{PREFIX}{_VERSION}:{self.current_key_id}:"

    @classmethod
    def from_setting(cls, value: str, *, source: str = "CIT_DATA_KEY") -> DataCipher:
        """Parse comma-separated urlsafe base64 keys; errors name source, never the key."""
        parts = [p.strip() for p in value.split(",") if p.strip()]
        if not parts:
            raise DataKeyError(f"{source} is empty")
        keys = []
        for position, part in enumerate(parts, start=1):
            try:
                key = base64.b64decode(part.encode("ascii"), altchars=b"-_", validate=True)
            except (binascii.Error, UnicodeEncodeError, ValueError):
                raise DataKeyError(f"{source}: key {position} is not urlsafe base64") from None
            if len(key) != _KEY_BYTES:
                raise DataKeyError(
                    f"{source}: key {position} is {len(key)} bytes, not {_KEY_BYTES}"
                )
            keys.append(key)
        return cls(keys)

    def encrypt(self, plaintext: str, *, column: str, row_id: UUID) -> str:
        """The stored form of plaintext for this column of this row."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._current.encrypt(nonce, plaintext.encode(), _associated_data(column, row_id))
        body = base64.urlsafe_b64encode(nonce + sealed).decode()
        return f"{self.current_prefix}{body}"

    def encrypt_optional(self, plaintext: str | None, *, column: str, row_id: UUID) -> str | None:
        return None if plaintext is None else self.encrypt(plaintext, column=column, row_id=row_id)

    def decrypt(self, stored: str, *, column: str, row_id: UUID) -> str:
        """The plaintext of a stored value; legacy plaintext (no `enc:` prefix) as it is."""
        if not stored.startswith(PREFIX):
            return stored
        where = f"{column} of {row_id}"
        try:
            _, version, key_id, body = stored.split(":", 3)
        except ValueError:
            raise UndecryptableValue(f"{where} is not a well-formed encrypted value") from None
        if version != _VERSION:
            raise UndecryptableValue(f"{where} uses unknown encryption format {version!r}")
        aead = self._keys.get(key_id)
        if aead is None:
            raise UndecryptableValue(
                f"{where} was encrypted with key {key_id}, which is not in CIT_DATA_KEY"
            )
        try:
            raw = base64.urlsafe_b64decode(body.encode("ascii"))
            plain = aead.decrypt(
                raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _associated_data(column, row_id)
            )
        except (InvalidTag, binascii.Error, UnicodeEncodeError, ValueError):
            raise UndecryptableValue(
                f"{where} fails authentication: it was altered or belongs to another row"
            ) from None
        return plain.decode()

    def decrypt_optional(self, stored: str | None, *, column: str, row_id: UUID) -> str | None:
        return None if stored is None else self.decrypt(stored, column=column, row_id=row_id)

    def reencrypt(self, stored: str, *, column: str, row_id: UUID) -> str:
        """The value under the current key (legacy plaintext gets encrypted)."""
        plain = self.decrypt(stored, column=column, row_id=row_id)
        return self.encrypt(plain, column=column, row_id=row_id)


def load_cipher(settings: Settings) -> DataCipher:
    """The cipher for serve, worker and rekey, from CIT_DATA_KEY.

    Against an external server (CIT_DATABASE_URL) the key is required. The embedded mode
    keeps a generated key in CIT_DATA_DIR/data.key (mode 0600), made on first start.
    """
    if settings.data_key is not None:
        return DataCipher.from_setting(settings.data_key.get_secret_value())
    if settings.database_url:
        raise DataKeyError(
            "CIT_DATA_KEY is required when CIT_DATABASE_URL is set (see the README: "
            'Configuration); generate a key with: python -c "import base64,os;'
            'print(base64.urlsafe_b64encode(os.urandom(32)).decode())"'
        )
    path = settings.data_dir.expanduser() / KEY_FILE
    try:
        return _embedded_key(path)
    except OSError as exc:
        raise DataKeyError(
            f"CIT_DATA_KEY is unset and {path} cannot be read or created: {exc.strerror}"
        ) from None


def _embedded_key(path: Path) -> DataCipher:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole under another name, then linked: a process starting at the same
        # moment either sees no file or the complete one, and only one key ever wins.
        draft = path.with_name(f".{KEY_FILE}.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(generate_key() + "\n")
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return DataCipher.from_setting(path.read_text(), source=str(path))
