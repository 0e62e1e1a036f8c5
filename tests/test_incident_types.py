"""The APCO/EIDO common incident types the service knows are the standard's registry, exactly."""

from __future__ import annotations

from pathlib import Path

from app.routing.types import DEFAULT_NATURE_FLAGS
from app.vocabulary import APCO_INCIDENT_TYPES

# A line-for-line copy of NENA-STA-021.1b, Table 32 (section 3.2), with a comment header.
REGISTRY = Path(__file__).parent / "data/eido_incident_types.txt"
TITLE = "Table 32 Incident Type \u2013 Common Registry"  # an en dash, as the standard has
REFERENCES = {"This document", "APCO 2.103.2-2019"}


def _table() -> list[str]:
    return [
        line
        for line in REGISTRY.read_text(encoding="utf-8").splitlines()
        if not line.startswith("#")
    ]


def registry_codes() -> list[str]:
    """Read the codes from the copy of the table: rows of value, description, reference."""
    title, *columns = _table()[:4]
    assert (title, columns) == (TITLE, ["Value", "Literal Description", "Reference"])
    rows = _table()[4:]
    assert len(rows) % 3 == 0
    codes = []
    for at in range(0, len(rows), 3):
        value, description, reference = (cell.strip() for cell in rows[at : at + 3])
        assert reference in REFERENCES, rows[at : at + 3]
        # An empty row continues a merged cell above it: no code of its own.
        assert bool(value) == bool(description), rows[at : at + 3]
        if value:
            codes.append(value)
    return codes


def test_the_known_incident_types_are_exactly_the_registry() -> None:
    codes = registry_codes()
    # Sanity: the table was read whole, first row to last.
    assert (codes[0], codes[-1]) == ("NONEMERG", "XTRICATE")
    assert {"MNTL", "MTLV", "EDP", "SUICIDE", "SUICTHRT", "WELFARE", "WEAPON"} <= set(codes)
    assert set(codes) == APCO_INCIDENT_TYPES


def test_default_nature_flags_name_only_registry_codes() -> None:
    # A misspelt code (BARRICADE for the registry's BARICADE) would never match a call.
    assert set(DEFAULT_NATURE_FLAGS) <= APCO_INCIDENT_TYPES
