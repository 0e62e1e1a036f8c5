"""A watchdog for hung tests (a pytest plugin, loaded by conftest.py).

A test still running after CIT_TEST_TIMEOUT seconds (120 unless set; the slowest test
takes about 7) is taken to hang. The run prints its name, every thread's stack, and every
asyncio task with the line each awaits at, then ends with exit status 3. Under
pytest-xdist the worker ends, and the run reports the test it crashed in. A hang then fails
CI and says where, instead of running into CI's time limit with nothing to show.

The run's end is watched too. Once a process of the run (pytest-xdist's controller or a
worker) has run its last test, it has CIT_TEST_EXIT_TIMEOUT seconds (600 unless set) to
exit: for coverage's combine and report, xdist's wait for its workers and farewell, the
summary, and interpreter exit (a thread that never ends). Still alive then, it prints every
thread's stack and every asyncio task, and exits: with the run's own status if its results
were all reported (the hang is named in the output, no test failed), with 3 otherwise.
"""

from __future__ import annotations

import asyncio
import faulthandler
import gc
import os
import sys
import threading
from collections.abc import Generator
from typing import Any, TextIO

import pytest

LIMIT = float(os.environ.get("CIT_TEST_TIMEOUT", "120"))
EXIT_LIMIT = float(os.environ.get("CIT_TEST_EXIT_TIMEOUT", "600"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, None, None]:
    timer = threading.Timer(LIMIT, _hung, args=(item,))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_runtestloop(session: pytest.Session) -> Generator[None, None, None]:
    # The innermost wrapper: armed as soon as the loop itself has ended, before any other
    # plugin's work after it (pytest-cov combines there; under xdist the controller's loop
    # is its wait for the workers, each of which watches its own end). Never disarmed: the
    # process is meant to be gone long before it fires.
    try:
        yield
    finally:
        timer = threading.Timer(EXIT_LIMIT, _did_not_exit, args=(session,))
        timer.daemon = True
        timer.start()


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    _reported.append(True)


_reported: list[bool] = []  # set once the run's last hook has run: its results are out


def _did_not_exit(session: pytest.Session) -> None:
    worker = getattr(session.config, "workerinput", {}).get("workerid", "the controller")
    out = sys.stderr
    print(
        f"\n!!! The test run's process ({worker}) is still running {EXIT_LIMIT:g} s after its"
        " last test: a hang at its end.",
        file=out,
    )
    print("!!! Every thread's stack, then every asyncio task:", file=out, flush=True)
    faulthandler.dump_traceback(file=out, all_threads=True)
    _print_tasks(out)
    status = int(session.exitstatus) if _reported else 3
    print(f"!!! Ending the process with exit status {status}.", file=out, flush=True)
    os._exit(status)


def _hung(item: pytest.Item) -> None:
    nodeid = item.nodeid
    # Out of pytest's capture, to the terminal (or the xdist controller), with what the
    # test had printed so far.
    capture = item.config.pluginmanager.getplugin("capturemanager")
    captured = ("", "")
    if capture is not None:
        capture.suspend_global_capture(in_=True)
        captured = capture.read_global_capture()
    out = sys.stderr
    for name, text in zip(("stdout", "stderr"), captured, strict=True):
        if text:
            print(f"\n!!! The test's {name} so far:\n{text}", file=out)
    print(f"\n!!! {nodeid} is still running after {LIMIT:g} s: a hang.", file=out)
    print("!!! Every thread's stack, then every asyncio task:", file=out, flush=True)
    faulthandler.dump_traceback(file=out, all_threads=True)
    _print_tasks(out)
    print(f"!!! Ending the run: {nodeid} hung.", file=out, flush=True)
    os._exit(3)


def _print_tasks(out: TextIO) -> None:
    # Every task of every loop, read from this thread: a hung loop waits in its selector.
    # (asyncio.all_tasks() needs the loop's own thread, where nothing runs now.)
    for _ in range(3):  # the set may change while it is copied
        try:
            tasks = [t for t in list(getattr(asyncio.tasks, "_all_tasks", ())) if not t.done()]
            break
        except RuntimeError:
            continue
    else:
        tasks = []
    for task in tasks:
        asked = task.cancelling()
        print(
            f"--- task {task.get_name()}" + (f" (asked to cancel {asked}x)" if asked else "") + ":",
            file=out,
        )
        for line in _awaiting(task.get_coro()):
            print(f"    {line}", file=out)
    out.flush()


def _awaiting(awaitable: Any) -> list[str]:
    """Where a coroutine stands, outermost first, down to what it waits on."""
    lines = []
    for _ in range(200):
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "ag_frame", None)
        if frame is not None:
            lines.append(f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}")
            awaitable = getattr(awaitable, "cr_await", None) or getattr(awaitable, "ag_await", None)
            if awaitable is None:
                break
            continue
        if isinstance(awaitable, asyncio.Future):
            lines.append(f"waits on {awaitable!r}")
            break
        # An async generator's asend, or a future's iterator: go on with what it holds.
        held = [
            r
            for r in gc.get_referents(awaitable)
            if isinstance(r, asyncio.Future) or hasattr(r, "cr_frame") or hasattr(r, "ag_frame")
        ]
        if not held:
            lines.append(f"waits on {awaitable!r}")
            break
        awaitable = held[0]
    return lines
