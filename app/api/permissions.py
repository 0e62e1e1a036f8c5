"""Who may do what (docs/api.md, "Roles"), and what the audit trail calls it, written down
once as data.

Every route under /v1 has exactly one entry in ROUTES. The `authorize` dependency enforces
it, the README's permission table is generated from it (`python -m app.api.permissions`),
and a test walks every entry with every role.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from app.vocabulary import ROLES, Role

Roles = frozenset[Role]
READERS: Roles = frozenset({"admin", "supervisor", "dispatcher", "integration", "viewer"})
ROSTER: Roles = frozenset({"admin", "supervisor"})
HANDLERS: Roles = frozenset({"admin", "supervisor", "dispatcher", "integration"})
WEBHOOKS: Roles = frozenset({"admin", "supervisor", "integration"})
ADMIN: Roles = frozenset({"admin"})
AUDITORS: Roles = frozenset({"admin", "supervisor"})
# Who may correct the program's record after the fact (a cleared call's outcome).
SUPERVISION: Roles = frozenset({"admin", "supervisor"})
UNIT: Roles = frozenset({"unit"})


@dataclass(frozen=True)
class Rule:
    roles: Roles
    # The audit action, `<resource>.<verb>`; its resource is the part before the dot.
    action: str
    # Recorded in the audit trail on success and on error (denials are always recorded).
    audited: bool = False
    # The unit role may use this route only for its own responder (the path's id).
    unit_own: bool = False
    # The service writes the audit entry itself, in its own statement (e.g. call intake).
    audited_by_service: bool = False

    @property
    def resource_type(self) -> str:
        return self.action.split(".", 1)[0]


def _read(action: str, roles: Roles = READERS, *, audited: bool = False) -> Rule:
    return Rule(roles, action, audited=audited)


def _write(action: str, roles: Roles, **flags: bool) -> Rule:
    return Rule(roles, action, audited=True, **flags)


ROUTES: dict[tuple[str, str], Rule] = {
    ("POST", "/v1/districts"): _write("district.create", ROSTER),
    ("GET", "/v1/districts"): _read("district.list"),
    ("GET", "/v1/districts/locate"): _read("district.locate"),
    ("GET", "/v1/districts/{code}"): _read("district.read"),
    ("PATCH", "/v1/districts/{code}"): _write("district.update", ROSTER),
    ("DELETE", "/v1/districts/{code}"): _write("district.delete", ROSTER),
    ("POST", "/v1/officers"): _write("officer.create", ROSTER),
    ("GET", "/v1/officers"): _read("officer.list"),
    ("GET", "/v1/officers/{officer_id}"): _read("officer.read"),
    ("PATCH", "/v1/officers/{officer_id}"): _write("officer.update", ROSTER),
    ("PUT", "/v1/officers/{officer_id}/status"): _write(
        "officer.status", HANDLERS | UNIT, unit_own=True
    ),
    ("POST", "/v1/certifications"): _write("certification.create", ADMIN),
    ("GET", "/v1/certifications"): _read("certification.list"),
    ("GET", "/v1/certifications/{certification_id}"): _read("certification.read"),
    ("PATCH", "/v1/certifications/{certification_id}"): _write("certification.update", ADMIN),
    ("POST", "/v1/co-responders"): _write("co_responder.create", ROSTER),
    ("GET", "/v1/co-responders"): _read("co_responder.list"),
    ("GET", "/v1/co-responders/{co_responder_id}"): _read("co_responder.read"),
    ("PATCH", "/v1/co-responders/{co_responder_id}"): _write("co_responder.update", ROSTER),
    ("PUT", "/v1/co-responders/{co_responder_id}/status"): _write(
        "co_responder.status", HANDLERS | UNIT, unit_own=True
    ),
    ("POST", "/v1/shifts"): _write("shift.create", ROSTER),
    ("POST", "/v1/shifts/bulk"): _write("shift.bulk_create", ROSTER),
    ("GET", "/v1/shifts"): _read("shift.list"),
    ("GET", "/v1/shifts/{shift_id}"): _read("shift.read"),
    ("PATCH", "/v1/shifts/{shift_id}"): _write("shift.update", ROSTER),
    ("DELETE", "/v1/shifts/{shift_id}"): _write("shift.delete", ROSTER),
    ("GET", "/v1/units"): _read("unit.list"),
    ("GET", "/v1/units/me"): Rule(UNIT, "unit.me", unit_own=True),
    ("GET", "/v1/policy"): _read("policy.read"),
    ("GET", "/v1/policy/versions/{version}"): _read("policy.read"),
    ("PUT", "/v1/policy"): _write("policy.update", ADMIN),
    ("POST", "/v1/calls"): _write("call.create", HANDLERS, audited_by_service=True),
    ("GET", "/v1/calls"): _read("call.list"),
    ("GET", "/v1/calls/{call_id}"): _read("call.read", audited=True),
    ("PATCH", "/v1/calls/{call_id}"): _write("call.update", HANDLERS, audited_by_service=True),
    ("GET", "/v1/calls/{call_id}/recommendations"): _read("call.recommendations", audited=True),
    ("POST", "/v1/calls/{call_id}/dispatch"): _write(
        "call.dispatch", HANDLERS, audited_by_service=True
    ),
    ("POST", "/v1/calls/{call_id}/clear"): _write("call.clear", HANDLERS, audited_by_service=True),
    ("PATCH", "/v1/calls/{call_id}/outcome"): _write(
        "call.correct", SUPERVISION, audited_by_service=True
    ),
    ("GET", "/v1/calls/{call_id}/eido"): _read("call.eido", audited=True),
    ("POST", "/v1/eido"): _write("call.import", HANDLERS, audited_by_service=True),
    ("GET", "/v1/eido/incidents/{incident_id}"): _read("call.eido", audited=True),
    ("POST", "/v1/webhooks"): _write("webhook.create", WEBHOOKS),
    ("GET", "/v1/webhooks"): _read("webhook.list", WEBHOOKS),
    ("GET", "/v1/webhooks/{subscription_id}"): _read("webhook.read", WEBHOOKS),
    ("PATCH", "/v1/webhooks/{subscription_id}"): _write("webhook.update", WEBHOOKS),
    ("POST", "/v1/webhooks/{subscription_id}/secret"): _write("webhook.rotate_secret", WEBHOOKS),
    ("DELETE", "/v1/webhooks/{subscription_id}"): _write("webhook.delete", WEBHOOKS),
    ("GET", "/v1/webhooks/{subscription_id}/deliveries"): _read("webhook.deliveries", WEBHOOKS),
    ("POST", "/v1/webhooks/{subscription_id}/deliveries/retry"): _write(
        "webhook.retry_failed", WEBHOOKS
    ),
    ("GET", "/v1/webhooks/deliveries/{delivery_id}"): _read("webhook_delivery.read", WEBHOOKS),
    ("POST", "/v1/webhooks/deliveries/{delivery_id}/retry"): _write(
        "webhook_delivery.retry", WEBHOOKS
    ),
    ("GET", "/v1/agency"): _read("agency.read"),
    ("POST", "/v1/api-keys"): _write("api_key.create", ADMIN),
    ("GET", "/v1/api-keys"): _read("api_key.list", ADMIN),
    ("DELETE", "/v1/api-keys/{key_id}"): _write("api_key.revoke", ADMIN),
    ("GET", "/v1/audit"): _read("audit.read", AUDITORS, audited=True),
    ("GET", "/v1/coverage"): _read("report.coverage"),
    ("GET", "/v1/program"): _read("report.program"),
    ("GET", "/v1/reports/outcomes"): _read("report.outcomes"),
    # A unit key hears what its terminal's webhook would (app/events/audience.py).
    ("GET", "/v1/stream"): Rule(READERS | UNIT, "event.stream", unit_own=True),
    # A browser's pass to the stream (SPEC §6.5): whoever may open one may ask for one.
    ("POST", "/v1/stream/tickets"): _write("stream_ticket.create", READERS | UNIT, unit_own=True),
}


def rule_for(method: str, path: str) -> Rule | None:
    return ROUTES.get((method, path))


def permits(rule: Rule, role: str) -> bool:
    return role in rule.roles


def markdown_table() -> str:
    """The README's permission table, generated from ROUTES."""
    lines = [
        "| endpoint | " + " | ".join(ROLES) + " |",
        "|---|" + "---|" * len(ROLES),
    ]
    for (method, path), rule in ROUTES.items():
        marks = [
            ("own" if rule.unit_own and role == "unit" else "✔") if permits(rule, role) else "—"
            for role in ROLES
        ]
        lines.append(f"| `{method} {path}` | " + " | ".join(marks) + " |")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    sys.stdout.write(markdown_table() + "\n")
