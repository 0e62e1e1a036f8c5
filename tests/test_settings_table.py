"""README.md's Configuration table names every setting, and only settings."""

from __future__ import annotations

import re
from pathlib import Path

from app.settings import Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_configuration_table_documents_every_setting_and_nothing_else() -> None:
    section = README.read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `CIT_")]
    documented = {name for row in rows for name in re.findall(r"`(CIT_[A-Z_]+)`", row)}
    settings = {f"CIT_{name.upper()}" for name in Settings.model_fields}
    assert settings - documented == set(), "settings missing from the table"
    assert documented - settings == set(), "rows for settings that do not exist"
