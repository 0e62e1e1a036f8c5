"""What a call's flags and nature mean under the policy: the flags its nature implies, the
ones that count as a safety concern, and how the reasons say so (docs/routing.md)."""

from __future__ import annotations

from app.routing.types import CallFacts, Policy


def nature_code(nature: str | None) -> str:
    """A nature as the policy and the registry spell codes: trimmed, upper case."""
    return (nature or "").strip().upper()


def nature_flags(call: CallFacts, policy: Policy) -> frozenset[str]:
    """Return the flags the call's nature implies through the policy (case-insensitive)."""
    nature = nature_code(call.nature)
    if not nature:
        return frozenset()
    implied: frozenset[str] = frozenset()
    for code, flags in policy.nature_flags.items():
        if nature_code(code) == nature:
            implied |= flags
    return implied


def effective_flags(call: CallFacts, policy: Policy) -> frozenset[str]:
    """Return the flags set on the call plus those its nature implies."""
    return call.safety | nature_flags(call, policy)


def safety_message(call: CallFacts, policy: Policy, concerns: list[str]) -> str:
    message = f"Safety concern flagged: {', '.join(concerns)}"
    from_nature = sorted(nature_flags(call, policy) & policy.safety_flags)
    if from_nature:
        nature = (call.nature or "").strip()
        message += f" (nature {nature} implies {', '.join(from_nature)})"
    return message


def no_concern_message(flags: frozenset[str], policy: Policy) -> str:
    """How a reason opens when no flag counts as a safety concern: flags the call has that
    the policy does not count (but medical, whose own rule says so) are named, not denied."""
    uncounted = sorted(flags - policy.safety_flags - {"medical_emergency"})
    if not uncounted:
        return "No safety concern flagged"
    return f"The policy counts none of the flags set ({', '.join(uncounted)}) as a safety concern"
