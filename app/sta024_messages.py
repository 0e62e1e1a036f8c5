"""A NENA-STA-024 notifier's messages as app/subscriber.py reads them: as objects, the
subscribeResponse that answers a request, how large one may be, and the transactionId of
one too large to handle (the subscriber answers it 413), read without parsing it. What is
not of the shape sta024-websocket.yaml gives is logged here and passed over.

A parse costs many times a message's size in memory (about 360 MiB for 16 MiB of `[]`), so
an over-size message is not parsed: its transactionId is read from its first _HEAD
characters, among the event's members before its `notification` (the order
sta024-websocket.yaml lists them in: subscriptionId, transactionId, notification).
"""

from __future__ import annotations

import codecs
import json
import logging
from typing import Any

log = logging.getLogger(__name__)

# The largest message handled, in bytes as sent: an event above it is answered TOO_LARGE.
EVENT_MAX = 4 * 2**20
# The largest message the WebSocket takes in: one above it closes the connection (1009) with
# no answer, so it is well above EVENT_MAX, for an over-size event to be answered.
TRANSPORT_MAX = 16 * 2**20
# How much of an over-size message is read for its transactionId.
_HEAD = 64 * 2**10


def too_large(raw: str | bytes) -> bool:
    """Whether a message is over EVENT_MAX bytes as sent (UTF-8): a text of n characters is
    n to 4n bytes, so it is encoded to count them only when that leaves it in doubt."""
    if isinstance(raw, bytes) or len(raw) > EVENT_MAX or len(raw) * 4 <= EVENT_MAX:
        return len(raw) > EVENT_MAX
    return len(raw.encode("utf-8", "surrogatepass")) > EVENT_MAX


_DECODER = json.JSONDecoder()


def _past(text: str, at: int, char: str) -> int:
    """Where text goes on after `char` at `at`, blanks before and after it skipped;
    ValueError when `char` is not there."""
    at = _blank(text, at)
    if text[at : at + 1] != char:
        raise ValueError(f"{char!r} expected at {at}")
    return _blank(text, at + 1)


def _blank(text: str, at: int) -> int:
    """Where text goes on after the blanks (JSON's whitespace) from `at`."""
    while at < len(text) and text[at] in " \t\n\r":
        at += 1
    return at


def oversize_transaction(raw: str | bytes) -> str | None:
    """The transactionId of an event too large to handle, read from the message's first
    _HEAD characters without parsing the rest: among the event's members before its
    notification, in the order they come. None when it is not there (the message is not an
    event; its transactionId comes after its notification, or past the head)."""
    try:
        if isinstance(raw, bytes):  # the whole characters of the head
            text = codecs.getincrementaldecoder("utf-8")().decode(raw[:_HEAD])
        else:
            text = raw[:_HEAD]
        at = _past(text, 0, "{")
        key, at = _DECODER.raw_decode(text, at)
        if key != "event":
            return None
        at = _past(text, _past(text, at, ":"), "{")
        while True:
            key, at = _DECODER.raw_decode(text, at)
            if not isinstance(key, str) or key == "notification":
                return None
            value, at = _DECODER.raw_decode(text, _past(text, at, ":"))
            if key == "transactionId":
                return value if isinstance(value, str) else None
            at = _past(text, at, ",")
    except (ValueError, RecursionError):  # cut off by the head, or not JSON
        return None


def message_of(raw: str | bytes) -> dict[str, Any]:
    """A notifier message as an object; {} (nothing to act on) for one that is not JSON or
    not an object."""
    try:
        message = json.loads(raw)
    except (ValueError, RecursionError):  # nested deeper than the parser goes
        message = None
    if not isinstance(message, dict):
        log.warning("EIDO notifier sent a message that is not a JSON object; ignored")
        return {}
    return message


def answer_to(answer: dict[str, Any] | None, asked: set[str]) -> dict[str, Any] | None:
    """A subscribeResponse that answers one of the requests asked, with a status code; None
    (logged) for any other: it changes nothing."""
    if answer is None:
        return None
    status, request_id = answer.get("statusCode"), answer.get("requestId")
    if (
        not isinstance(request_id, str)
        or request_id not in asked
        or not isinstance(status, int)
        or isinstance(status, bool)
    ):
        log.warning("EIDO notifier sent a subscribeResponse to nothing asked; ignored")
        return None
    return answer


def member(message: dict[str, Any], name: str) -> dict[str, Any] | None:
    """message[name] when it is an object; None, logged, when it is something else."""
    value = message.get(name)
    if isinstance(value, dict):
        return value
    log.warning("EIDO notifier sent a %s that is not an object; ignored", name)
    return None
