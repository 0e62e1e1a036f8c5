"""The test suite's watchdog: a hung test ends the run and says where it hangs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

HUNG = """
import asyncio


async def _wait_for_what_never_comes(event):
    await event.wait()


def test_waits_forever():
    async def main():
        await _wait_for_what_never_comes(asyncio.Event())

    asyncio.run(main())


def test_after_it():
    pass
"""


def test_a_hung_test_ends_the_run_naming_it_and_what_it_awaits(tmp_path: Path) -> None:
    (tmp_path / "test_hung.py").write_text(HUNG)
    env = {**os.environ, "CIT_TEST_TIMEOUT": "1", "PYTHONPATH": str(ROOT)}
    plugins = ["-p", "no:cacheprovider", "-p", "no:xdist", "-p", "tests.watchdog"]
    run = subprocess.run(  # noqa: S603 (this interpreter, running pytest on a file made here)
        [sys.executable, "-m", "pytest", *plugins, "test_hung.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 3, run.stdout + run.stderr
    assert "test_hung.py::test_waits_forever is still running after 1 s: a hang." in run.stderr
    # The task's await chain, down to the line it waits at.
    assert "in _wait_for_what_never_comes" in run.stderr
    assert "test_hung.py:6 in _wait_for_what_never_comes" in run.stderr
    assert "!!! Ending the run: test_hung.py::test_waits_forever hung." in run.stderr
    assert "test_after_it" not in run.stdout + run.stderr
