"""The Dockerfile, read as Docker reads it (no Docker here): a pinned base, a dependency layer
that only pyproject.toml invalidates, and a health check on the port the service uses."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

DOCKERFILE = Path(__file__).resolve().parents[1] / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        if line.lstrip().startswith("#"):
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        if pending.strip():
            keyword, _, arguments = pending.strip().partition(" ")
            out.append((keyword.upper(), arguments.strip()))
        pending = ""
    return out


def test_the_base_image_is_pinned_to_an_exact_python_and_debian_release() -> None:
    [base] = [arguments for keyword, arguments in _instructions() if keyword == "FROM"]
    exact = r"python:3\.11\.\d+-slim-(bookworm|trixie)(@sha256:[0-9a-f]{64})?"
    assert re.fullmatch(exact, base), base


def test_the_health_check_asks_the_port_cit_port_names() -> None:
    [check] = [arguments for keyword, arguments in _instructions() if keyword == "HEALTHCHECK"]
    assert "${CIT_PORT" in check
    assert ":8000/" not in check, "a fixed port misses a container run with another CIT_PORT"
    # Shell form, so the variable is read when the check runs, not when the image is built.
    command = check.partition(" CMD ")[2]
    assert command, check
    assert not command.startswith("["), check
    assert "/livez" in command


def test_editing_the_readme_does_not_invalidate_the_dependency_layer() -> None:
    instructions = _instructions()
    first_install = next(
        n for n, (keyword, arguments) in enumerate(instructions)
        if keyword == "RUN" and "pip install" in arguments
    )  # fmt: skip
    copied_before = [
        source
        for keyword, arguments in instructions[:first_install]
        if keyword in ("COPY", "ADD")
        for source in shlex.split(arguments)[:-1]
        if not source.startswith("--")
    ]
    assert copied_before == ["pyproject.toml"], copied_before
    # The package still gets its real README before it is installed for good.
    later = [arguments for keyword, arguments in instructions[first_install:] if keyword == "COPY"]
    assert any("README.md" in shlex.split(arguments)[:-1] for arguments in later)


def test_the_image_installs_the_otel_extra_so_it_can_trace() -> None:
    installs = [
        arguments
        for keyword, arguments in _instructions()
        if keyword == "RUN" and "pip install" in arguments
    ]
    # The dependency layer: the one that reads pyproject.toml's extras.
    assert any(".[otel]" in arguments for arguments in installs), installs
