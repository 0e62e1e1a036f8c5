"""Domain errors. One handler renders each as RFC 9457 problem+json."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

PROBLEM_BASE = "https://cit-dispatch.dev/problems/"


class AppError(Exception):
    status: int = 400
    slug: str = "bad-request"
    title: str = "Bad request"

    def __init__(self, detail: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra or {}
        self.headers: dict[str, str] = {}
        # What the refused request's audit entry names, when its path names nothing (an
        # EIDO import refused for the call it would change): the resource, and a detail.
        self.audit_about: tuple[object, dict[str, Any]] | None = None


class Unauthorized(AppError):
    status, slug, title = 401, "unauthorized", "Unauthorized"

    def __init__(self, detail: str = "A valid API key is required") -> None:
        super().__init__(detail)
        self.headers = {"WWW-Authenticate": "Bearer"}


class Forbidden(AppError):
    status, slug, title = 403, "forbidden", "Forbidden"


class NotFound(AppError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(AppError):
    status, slug, title = 409, "conflict", "Conflict"


class RecommendationChanged(Conflict):
    """A dispatch of a recommendation that is no longer the call's latest."""

    slug, title = "recommendation-changed", "The recommendation changed"

    def __init__(self, detail: str, recommendation: dict[str, Any]) -> None:
        super().__init__(detail, extra={"recommendation": recommendation})


class NotOnThatCall(Conflict):
    """A status report about a call its unit is no longer on (released, sent to another,
    the call cleared): a report queued while the terminal was offline, or racing the
    dispatcher. Nothing changes; the body names the call the unit is on now, if any."""

    slug, title = "not-on-that-call", "The unit is not on that call"

    def __init__(self, detail: str, active_call_id: UUID | None) -> None:
        super().__init__(
            detail,
            extra={"active_call_id": None if active_call_id is None else str(active_call_id)},
        )


class CallExists(Conflict):
    """A new call whose external_id another call of the agency already has."""

    slug, title = "call-exists", "A call with this external_id exists"

    def __init__(self, external_id: str, call_id: object) -> None:
        super().__init__(
            f"call {call_id} already has external_id {external_id}",
            extra={"call_id": str(call_id)},
        )


class RequestInProgress(Conflict):
    """A request under an Idempotency-Key whose first request is still running: retried
    after Retry-After, it is answered as that one was (or runs, if that one failed)."""

    slug, title = "request-in-progress", "A request with this Idempotency-Key is in progress"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": "1"}


class OfficerExists(Conflict):
    """An officer given a state_officer_id or badge_number an active officer of the agency
    has: created, changed or reactivated."""

    slug, title = "officer-exists", "An active officer has this state_officer_id or badge_number"

    def __init__(self, officer_id: object, field: str) -> None:
        super().__init__(
            f"officer {officer_id} is active with this {field}",
            extra={"officer_id": str(officer_id)},
        )


class ShiftOverlaps(Conflict):
    """A shift that would overlap another of its responder's: a stored one (shift_id), or
    an earlier one of the same bulk request (no shift_id; the detail names its place)."""

    slug, title = "shift-overlap", "The shift overlaps another of its responder's"

    def __init__(self, detail: str, shift_id: object | None = None) -> None:
        super().__init__(detail, extra=None if shift_id is None else {"shift_id": str(shift_id)})


class CertificationExists(Conflict):
    """A certification number the person already has on record."""

    slug, title = "certification-exists", "The person has this certification number on record"

    def __init__(self, certification_id: object) -> None:
        super().__init__(
            f"certification {certification_id} already records that number for this person",
            extra={"certification_id": str(certification_id)},
        )


# RFC 9110 §15.5.16: a 415 says what the method would take (W3C LDP's Accept-Post, RFC
# 5789's Accept-Patch); a PUT has no such header.
ACCEPT_HEADERS = {"POST": "Accept-Post", "PATCH": "Accept-Patch"}


class UnsupportedMediaType(AppError):
    """A body sent as something other than JSON (RFC 9110 section 15.5.16)."""

    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"

    def __init__(
        self, detail: str, *, method: str, accepted: Sequence[str], coded: bool = False
    ) -> None:
        super().__init__(detail)
        accept = ACCEPT_HEADERS.get(method)
        self.headers = {} if accept is None else {accept: ", ".join(accepted)}
        if coded:  # RFC 9110 §12.5.3: the content codings a request may use, none.
            self.headers["Accept-Encoding"] = "identity"


class PreconditionFailed(AppError):
    """A write whose If-Match names no longer the current representation (RFC 9110 §13.1.1)."""

    status, slug, title = 412, "precondition-failed", "Precondition failed"


class Invalid(AppError):
    """A payload that parsed but breaks a rule (unknown district, bad policy, ...)."""

    status, slug, title = 422, "validation", "Validation failed"

    def __init__(self, detail: str, *, loc: Sequence[str | int] = ("body",)) -> None:
        super().__init__(detail, extra={"errors": [{"loc": list(loc), "msg": detail}]})


class TooManyRequests(AppError):
    status, slug, title = 429, "too-many-requests", "Too many requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": str(retry_after)}


class RolledBack(AppError):
    """PostgreSQL undid the request's transaction to break a deadlock with another (or a
    serialization failure): nothing of it was kept, and the same request may run again."""

    status, slug, title = 503, "rolled-back", "Undone by a concurrent request"

    def __init__(self) -> None:
        super().__init__(
            "The database undid this request to break a conflict with another running at"
            " the same time; nothing of it was kept. Retry it."
        )
        self.headers = {"Retry-After": "1"}


class ServiceUnavailable(AppError):
    status, slug, title = 503, "unavailable", "Service unavailable"

    def __init__(self, detail: str = "The database is unavailable", retry_after: int = 5) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": str(retry_after)}
