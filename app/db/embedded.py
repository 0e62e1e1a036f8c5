"""The embedded PostgreSQL server (pgserver) used when CIT_DATABASE_URL is not set."""

from __future__ import annotations

import atexit
import logging
import shutil
import signal
from pathlib import Path
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)


def start_embedded(data_dir: Path, *, ephemeral: bool = False) -> str:
    """Start (or join) the embedded server in data_dir/pg and return its postgresql:// URI.

    pgserver counts the processes using one data directory and stops the server when the
    last of them exits (atexit), so a CLI command run beside `serve` never stops it.
    With ephemeral (tests, benchmarks) data_dir is deleted once the server has stopped.
    """
    import pgserver  # Imported lazily: it is only needed for the embedded mode.

    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    _exit_cleanly_on_sigterm()
    if ephemeral:
        # Registered before pgserver's own handler, so it runs after the server stopped.
        atexit.register(shutil.rmtree, data_dir, ignore_errors=True)
    get_server: Any = pgserver.get_server  # type: ignore[attr-defined]
    server = get_server(data_dir / "pg", cleanup_mode="delete" if ephemeral else "stop")
    uri: str = server.get_uri()
    log.info("embedded postgres ready", extra={"data_dir": str(data_dir)})
    return uri


def _exit_cleanly_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so atexit handlers (which stop postgres) run.

    uvicorn installs its own handler when it serves, and exits normally on SIGTERM.
    """
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:

        def _raise_exit(signum: int, frame: FrameType | None) -> None:
            raise SystemExit(128 + signum)

        signal.signal(signal.SIGTERM, _raise_exit)
