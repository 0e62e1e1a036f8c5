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


HUNG_AT_EXIT = """
import threading
import time


def _never_ends():
    while True:
        time.sleep(0.1)


def test_leaves_a_thread_behind():
    threading.Thread(target=_never_ends, name="left-behind").start()
"""


def _pytest(tmp_path: Path, test_file: str, **env: str) -> subprocess.CompletedProcess[str]:
    plugins = ["-p", "no:cacheprovider", "-p", "no:xdist", "-p", "tests.watchdog"]
    return subprocess.run(  # noqa: S603 (this interpreter, running pytest on a file made here)
        [sys.executable, "-m", "pytest", *plugins, test_file],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_hung_test_ends_the_run_naming_it_and_what_it_awaits(tmp_path: Path) -> None:
    (tmp_path / "test_hung.py").write_text(HUNG)
    run = _pytest(tmp_path, "test_hung.py", CIT_TEST_TIMEOUT="1")
    assert run.returncode == 3, run.stdout + run.stderr
    assert "test_hung.py::test_waits_forever is still running after 1 s: a hang." in run.stderr
    # The task's await chain, down to the line it waits at.
    assert "in _wait_for_what_never_comes" in run.stderr
    assert "test_hung.py:6 in _wait_for_what_never_comes" in run.stderr
    assert "!!! Ending the run: test_hung.py::test_waits_forever hung." in run.stderr
    assert "test_after_it" not in run.stdout + run.stderr


def test_a_run_that_hangs_at_its_end_exits_with_its_results_and_says_where(
    tmp_path: Path,
) -> None:
    """Every result is out, but a thread left behind keeps the process from exiting."""
    (tmp_path / "test_exit.py").write_text(HUNG_AT_EXIT)
    run = _pytest(tmp_path, "test_exit.py", CIT_TEST_EXIT_TIMEOUT="5")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout
    assert (
        "The test run's process (the controller) is still running 5 s after its last test:"
        " a hang at its end." in run.stderr
    )
    assert 'test_exit.py", line 8 in _never_ends' in run.stderr
    assert "Ending the process with exit status 0." in run.stderr
