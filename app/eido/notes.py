"""The notes a call takes from an EIDO: its notes components joined, and after them a line
for each caution with words that raise no safety flag (docs/api.md, "EIDO"); and how the service
finds those lines again in notes it holds."""

from __future__ import annotations

import hashlib
from typing import Any

from app.eido import registry
from app.vocabulary import NOTES_CUT, SafetyFlag, newest_notes, one_line


def joined_notes(texts: list[str]) -> str | None:
    """Texts as a call's notes, one paragraph each; the last NOTES_MAX characters."""
    if not texts:
        return None
    joined = "\n\n".join(texts)
    return newest_notes(joined)


def storable(text: str) -> str:
    """A document's text as notes can hold it: a lone surrogate (JSON allows one: a CAD
    that cut an emoji in half) shown as "?", as UTF-8 can hold none, and a NUL (which
    PostgreSQL's text cannot hold) as U+FFFD. Either made the whole document a 422, its
    cautions lost with it."""
    return text.encode("utf-8", "replace").decode().replace("\x00", "\ufffd")


def notes_digest(own_notes: str) -> str:
    """The SHA-256 (hex) of a document's own notes (storable), by which a later document's
    are known to be the same (app/services/eido_applied.py keeps it encrypted)."""
    return hashlib.sha256(own_notes.encode()).hexdigest()


def read_cautions(
    cautions: list[dict[str, Any]], *, le_leads: frozenset[SafetyFlag]
) -> tuple[frozenset[SafetyFlag], list[str], int]:
    """The safety flags the cautions name, whatever their severity: a weapon noted as a
    low concern is still a weapon. A caution with words that raise no flag (a dog, a
    hazard, "no weapons seen", words the service does not know, and those beside a type
    that raised one: "MedicalEmergency" with "armed male, carries a machete") is told in a
    line of its own, for the notes: a dispatcher reads it, where the service cannot.
    Returns the flags, the lines (within their budget) and how many cautions told ask a
    dispatcher to read them (caution_not_read): all but those that set a flag of le_leads,
    the weapon and violence flags the agency's policy counts, whose scene law enforcement
    leads for good (their words told are for the responders: "Weapon: machete"). A policy
    stored before every policy had to count both routes by its own flags: under one without
    violence, "Violence" with "carries a machete" has mental health lead, and is warned of."""
    raised: set[SafetyFlag] = set()
    unread: list[str] = []
    warned = 0
    for caution in cautions:
        subtypes = caution.get("cautionTypeCommonSubRegistryText")
        words = [
            caution.get("cautionTypeCommonRegistryText"),
            caution.get("cautionTypeInternalText"),
            *(subtypes if isinstance(subtypes, list) else []),
        ]
        flags = [registry.caution_flag(word) for word in words]
        raised.update(flag for flag in flags if flag is not None)
        if not any(flags) or any(
            flag is None and not registry.caution_says_nothing(word)
            for word, flag in zip(words, flags, strict=True)
        ):
            read = sorted({flag for flag in flags if flag is not None})
            unread.append(_unread_caution(words, caution.get("cautionSeverity"), read))
            warned += not set(read) & le_leads
    return frozenset(raised), _within_budget(unread), warned


# The most of one caution's words the notes keep, and of all the lines telling cautions:
# the CAD's notes keep the rest of NOTES_MAX.
_CAUTION_WORDS = 200
_CAUTIONS_BUDGET = 5_000


def _unread_caution(words: list[Any], severity: Any, read: list[SafetyFlag]) -> str:
    """A caution with words not read, as a line of the notes: its words, each once, in the
    document's order ("Officer Safety: dog on premises"), its severity, and the flags its
    other words raised, if any, each storable."""
    said = [one_line(storable(w)) for w in words if isinstance(w, str)]
    text = ": ".join(dict.fromkeys(w for w in said if w))[:_CAUTION_WORDS] or "(no words)"
    level = f", severity {severity}" if isinstance(severity, str) else ""
    flagged = f" (read in part: it set {', '.join(read)})" if read else ""
    return f"{CAUTION_LINE}{level}: {text}{flagged}"


def _within_budget(lines: list[str]) -> list[str]:
    """The lines telling cautions, in the document's order, as many as _CAUTIONS_BUDGET
    holds, then one saying how many more the CAD has (each is still counted)."""
    kept: list[str] = []
    used = 0
    for line in lines:
        if used + len(line) > _CAUTIONS_BUDGET:
            break
        kept.append(line)
        used += len(line) + 2
    left = len(lines) - len(kept)
    if left:
        kept.append(f"{CAUTION_LINE}: {left} more, not shown here (read them in the CAD)")
    return kept


# How each line telling a caution not read begins (one paragraph of the notes each); and
# the lines telling a location's point not read (app/eido/location.py) and a person's age
# in a unit not read (app/eido/age.py), which close the notes before them, in that order,
# and are found again as they are.
CAUTION_LINE = "Caution from the CAD, not read as a safety flag"
AGE_LINE = "Age from the CAD, not read"
LOCATION_LINE = "Location from the CAD, not read"
_CLOSING = (LOCATION_LINE, AGE_LINE, CAUTION_LINE)


def closing_caution_lines(notes: str) -> tuple[str | None, list[str]]:
    """Notes split into what comes before the lines telling cautions not read that close
    them, and those lines, as joined_notes put them there: each a paragraph of one line,
    after a blank line. Read from the end, so a note ending with a line break ("...\n",
    then the blank line) keeps it, as the document's own notes do (split on every blank
    line, the line after it began with a line break, and was not found)."""
    rest = notes
    lines: list[str] = []
    while True:
        head, blank, last = rest.rpartition("\n\n")
        if not last.startswith(_CLOSING) or "\n" in last:
            break
        lines.insert(0, last)
        rest = head
        if not blank:
            break
    return rest or None, lines


def caution_lines(notes: str | None) -> list[str]:
    """The lines of notes that tell the CAD's cautions not read as a safety flag (and how
    many more it has, past their budget), as a dispatcher reads them: wherever they stand,
    for a dispatcher's edit may have put a note after them, a line under one, or a console
    written them back with CRLF (review r14). A line a dispatcher writes in that form is
    one too: the units read what the notes say in it."""
    if notes is None:
        return []
    lines = notes.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return [line.strip() for line in lines if line.lstrip().startswith(CAUTION_LINE)]


def lines_in_place(
    lines: tuple[str, ...],
    closing: list[str],
    *,
    located: bool,
    ages: bool,
    cautions: bool,
) -> list[str]:
    """The lines a document puts in place of those closing the notes held (closing): its
    own, but for what it does not speak of, whose lines held stay there: the location
    line, unless it gives the incident a location (located: read or not), the age line,
    unless it gives the subject an age (ages: read or not), and the cautions' lines,
    unless it gives cautions. A point or an age it cannot read is no word on the rest."""
    place = [line for line in (lines if located else closing) if line.startswith(LOCATION_LINE)]
    age = [line for line in (lines if ages else closing) if line.startswith(AGE_LINE)]
    said = [line for line in (lines if cautions else closing) if line.startswith(CAUTION_LINE)]
    return [*place, *age, *said]


def holds_own_notes(notes: str, own_notes: str) -> bool:
    """Whether notes are a document's own notes, as a call imported from it holds them:
    alone (imported before migration 0033), or with the lines telling its cautions not
    read after them, whichever cautions those were. Notes past NOTES_MAX hold the last of
    the CAD's notes after a NOTES_CUT: those of any document that gave them lines (a later one
    without notes puts its lines in place of the first's, shorter, so the cut is not the one
    joined_notes would make of this document's notes and lines), so a cut notes' part before
    the lines is the document's own notes when it is the end of them."""
    _, lines = closing_caution_lines(notes)
    for k in range(len(lines) + 1):
        tail = "\n\n".join(lines[k:])
        rest = notes[: len(notes) - len(tail) - 2] if tail else notes
        if rest == own_notes or (
            rest.startswith(NOTES_CUT) and own_notes.endswith(rest[len(NOTES_CUT) :])
        ):
            return True
    return False
