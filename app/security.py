"""API keys: generation, hashing, and the identity a request acts as."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

KEY_PREFIX = "cit_"


@dataclass(frozen=True)
class Principal:
    """The API key a request authenticated with, or a command run on the server for an
    agency (the STA-024 subscriber), which no key authenticates: key_id None."""

    key_id: UUID | None
    agency_id: UUID
    role: str
    responder_type: str | None
    responder_id: UUID | None
    prefix: str
    # When the key stops working; no instance caches it past this.
    expires_at: datetime | None = None


@dataclass(frozen=True)
class NewKey:
    secret: str
    prefix: str
    digest: bytes


def generate_key() -> NewKey:
    """Make a key of 32 random bytes, with a short public prefix for recognising it."""
    prefix = secrets.token_hex(4)
    secret = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    return NewKey(secret=secret, prefix=prefix, digest=hash_key(secret))


# A key's public prefix, in any case, with its secret part or without: a guess at a key
# names the key it guesses at, and is recorded in its agency's trail (README, "Audit
# trail"); `cit_<prefix>` alone, or a key in the wrong case, were recorded with no agency.
_PREFIX = re.compile(r"^cit_([0-9a-f]{8})(?:_|$)", re.IGNORECASE)


def key_prefix(presented: str | None) -> str | None:
    """The public prefix of something that looks like one of our keys, else None."""
    match = _PREFIX.match(presented or "")
    return match.group(1).lower() if match else None


def hash_key(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


# Stream tickets (GET /v1/stream?ticket=): a distinct prefix, so neither is ever taken for
# the other in a log or a form.
TICKET_PREFIX = "cst_"


def ticket_prefix(digest: bytes) -> str:
    """What a ticket's failures are counted under, as a key's under its prefix: each ticket
    its own count (a browser retrying a spent one locks out that ticket, not every
    console's behind the address), all of them under the address's budget. A ticket has
    no public prefix: eight hex digits of its hash, which tell nothing of the ticket."""
    return f"{TICKET_PREFIX}{digest.hex()[:8]}"


def generate_ticket() -> tuple[str, bytes]:
    """A new stream ticket of 32 random bytes, with the SHA-256 that is all we store."""
    ticket = f"{TICKET_PREFIX}{secrets.token_urlsafe(32)}"
    return ticket, hash_key(ticket)


# How long a stream ticket may wait to be redeemed, in seconds: a page asks for one just
# before it opens the stream.
TICKET_SECONDS = 30
