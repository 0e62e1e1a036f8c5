"""Who may do what (SPEC §3.6), written down once as data."""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    READ = "read agency data"
    MANAGE_ROSTER = "manage districts, officers, co-responders and shifts"
    RECORD_CERTIFICATION = "record certifications"
    MANAGE_POLICY = "change the routing policy"
    HANDLE_CALLS = "create, update, dispatch and clear calls"
    SET_STATUS = "set unit status"
    READ_OWN_UNIT = "read its own unit"
    MANAGE_WEBHOOKS = "manage webhooks"
    MANAGE_KEYS = "manage API keys"
    READ_AUDIT = "read the audit trail"


_ALL = {"admin", "supervisor", "dispatcher", "integration", "unit", "viewer"}

ROLE_PERMISSIONS: dict[Permission, frozenset[str]] = {
    Permission.READ: frozenset(_ALL - {"unit"}),
    Permission.MANAGE_ROSTER: frozenset({"admin", "supervisor"}),
    Permission.RECORD_CERTIFICATION: frozenset({"admin"}),
    Permission.MANAGE_POLICY: frozenset({"admin"}),
    Permission.HANDLE_CALLS: frozenset({"admin", "supervisor", "dispatcher", "integration"}),
    # The unit role may set status too, but only its own responder's (checked in the route).
    Permission.SET_STATUS: frozenset({"admin", "supervisor", "dispatcher", "integration", "unit"}),
    Permission.READ_OWN_UNIT: frozenset({"unit"}),
    Permission.MANAGE_WEBHOOKS: frozenset({"admin", "supervisor", "integration"}),
    Permission.MANAGE_KEYS: frozenset({"admin"}),
    Permission.READ_AUDIT: frozenset({"admin", "supervisor"}),
}


def allowed(role: str, permission: Permission) -> bool:
    return role in ROLE_PERMISSIONS[permission]
