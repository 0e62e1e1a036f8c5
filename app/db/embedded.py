"""The embedded PostgreSQL server (pgserver) used when CIT_DATABASE_URL is not set."""

from __future__ import annotations

import atexit
import hashlib
import logging
import re
import shutil
import signal
import subprocess
import warnings
from pathlib import Path
from types import FrameType
from typing import Any

from app.db.embedded_handles import drop_dead_handles

log = logging.getLogger(__name__)

# Server settings the embedded server runs with, beyond PostgreSQL's defaults (ALTER SYSTEM,
# so they stay in its data directory).
# - autovacuum_naptime: autovacuum looks at each database every 10 s, not every minute.
#   Each dispatch and clear leaves dead rows where call intake reads (the assignment
#   released, the units' shift_coverage rows rewritten), and rows not yet vacuumed cost the
#   candidate query a heap visit each (the workload count cannot answer from its index).
#   After bursts of dispatches, intake fell as low as 266/s until autovacuum came; with it
#   every 10 s it held 427-613/s (issue 16; bench/dispatch.py's docstring).
EMBEDDED_SETTINGS = {"autovacuum_naptime": "10s"}


def start_embedded(data_dir: Path, *, ephemeral: bool = False) -> str:
    """Start (or join) the embedded server in data_dir/pg and return its postgresql:// URI.

    pgserver counts the processes using one data directory and stops the server when the
    last of them exits (atexit), so a CLI command run beside `serve` never stops it. A
    process killed before its atexit handlers ran would stay counted forever, and the
    server never stop again: joining drops such processes from the count
    (app/db/embedded_handles.py).
    With ephemeral (tests, benchmarks) data_dir is deleted once the server has stopped.
    """
    # Imported lazily: it is only needed for the embedded mode. Importing it asks platformdirs
    # for a runtime directory (its lock file), which warns on every start where
    # XDG_RUNTIME_DIR is unset (a service, a container, CI) and falls back to
    # /tmp/runtime-<uid>, which serves as well: nothing for an operator to act on.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "XDG_RUNTIME_DIR is not set", UserWarning)
        import pgserver

    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    _exit_cleanly_on_sigterm()
    if ephemeral:
        # Registered before pgserver's own handler, so it runs after the server stopped.
        atexit.register(shutil.rmtree, data_dir, ignore_errors=True)
    _socket_directories_without_whitespace()
    pgdata = data_dir / "pg"
    if (pgdata / "PG_VERSION").exists():
        # Before joining as well: this process's start is recorded before its pid is
        # listed, so another process pruning between the two does not take it for the
        # process of a last life that had its pid (and stop the server under it on leaving).
        drop_dead_handles(pgdata)
    get_server: Any = pgserver.get_server  # type: ignore[attr-defined]
    server = get_server(pgdata, cleanup_mode="delete" if ephemeral else "stop")
    drop_dead_handles(pgdata)
    uri: str = server.get_uri()
    _apply_settings(uri, data_dir / "pg")
    log.info("embedded postgres ready", extra={"data_dir": str(data_dir)})
    return uri


def _socket_directories_without_whitespace() -> None:
    """Have pgserver give postgres a socket directory whose path has no whitespace.

    pgserver picks the data directory itself when its path is short enough, and passes it
    on through pg_ctl's -o option, which pg_ctl's shell splits on whitespace: in a folder
    such as "My Projects" the server would not start. For such a data directory the socket
    goes where pgserver puts it when the data directory's path is too long: in its runtime
    directory, named by a hash of the data directory.
    """
    from pgserver import postgres_server

    chosen: Any = getattr(postgres_server, "find_suitable_socket_dir", None)
    if chosen is None or getattr(chosen, "without_whitespace", False):
        # Another pgserver than 0.1.x: paths without whitespace still work, and
        # tests/test_embedded_lifecycle.py fails for those with some.
        return

    def find(pgdata: Path, runtime_path: Path) -> Path:
        found: Path = chosen(pgdata, runtime_path)
        if not _has_whitespace(found):
            return found
        named = hashlib.sha256(f"{pgdata}-{pgdata.stat().st_ino}".encode()).hexdigest()[:10]
        elsewhere = runtime_path / f"cit-{named}"
        if _has_whitespace(elsewhere):
            raise RuntimeError(
                f"the embedded server needs a directory for its socket without whitespace in"
                f" its path: both {pgdata} and {runtime_path} have some"
            )
        elsewhere.mkdir(parents=True, exist_ok=True)
        return elsewhere

    find.without_whitespace = True  # type: ignore[attr-defined]
    postgres_server.find_suitable_socket_dir = find  # type: ignore[attr-defined]


def _has_whitespace(path: Path) -> bool:
    return any(character.isspace() for character in str(path))


def _apply_settings(uri: str, pgdata: Path) -> None:
    """Set EMBEDDED_SETTINGS on the running server, once per data directory. A setting
    already in postgresql.auto.conf is left alone: joining the server costs nothing, and an
    operator's own ALTER SYSTEM stands."""
    import pgserver

    auto_conf = pgdata / "postgresql.auto.conf"
    written = auto_conf.read_text() if auto_conf.exists() else ""
    missing = {
        name: value
        for name, value in EMBEDDED_SETTINGS.items()
        if not re.search(rf"^{name}\s*=", written, re.MULTILINE)
    }
    if not missing:
        return
    # Each -c runs on its own (ALTER SYSTEM cannot run in a transaction block); psql stops
    # at the first error. The names and values are the constants above.
    args = [uri, "--no-psqlrc", "-v", "ON_ERROR_STOP=1"]
    for name, value in missing.items():
        args += ["-c", f"ALTER SYSTEM SET {name} = '{value}'"]
    psql: Any = pgserver.psql  # type: ignore[attr-defined]
    try:
        psql([*args, "-c", "SELECT pg_reload_conf()"], timeout=30)
    except (OSError, subprocess.SubprocessError):
        # Tuning, not correctness: the server still works with PostgreSQL's defaults.
        log.warning("could not apply the embedded server's settings", exc_info=True)


def _exit_cleanly_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so atexit handlers (which stop postgres) run.

    uvicorn installs its own handler when it serves, and exits normally on SIGTERM.
    """
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:

        def _raise_exit(signum: int, frame: FrameType | None) -> None:
            raise SystemExit(128 + signum)

        signal.signal(signal.SIGTERM, _raise_exit)
