"""A private PostgreSQL server a test starts, stops, freezes and restarts itself.

Built from the pgserver package's own binaries (initdb, pg_ctl), on a loopback TCP port,
so stopping it never touches the shared test server.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from app.db.migrate import upgrade
from tests.ports import free_port


def _bin(name: str) -> str:
    import pgserver

    return str(Path(pgserver.__file__).parent / "pginstall" / "bin" / name)


class PrivateServer:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="citpg-"))
        self.pgdata = self.root / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        # PostgreSQL refuses to run as root; pgserver then runs it as its own user.
        self.user: str | None = None
        if os.geteuid() == 0:
            from pgserver.utils import ensure_prefix_permissions, ensure_user_exists

            self.user = "pgserver"
            ensure_user_exists(self.user)
            ensure_prefix_permissions(self.root)
            shutil.chown(self.root, user=self.user)
        self._run("initdb", "-D", str(self.pgdata), "-U", "postgres", "--auth=trust", "--no-sync")

    def _run(self, *args: str, check: bool = True) -> None:
        # Output to a file, never a pipe: the server inherits it and would hold it open.
        with (self.root / "commands.log").open("a") as sink:
            subprocess.run(  # noqa: S603
                [_bin(args[0]), *args[1:]], check=check, stdout=sink, stderr=sink, user=self.user
            )

    def start(self, extra: str = "") -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off"
        options += f" {extra}"
        log = str(self.root / "server.log")
        self._run("pg_ctl", "-D", str(self.pgdata), "-o", options, "-w", "-l", log, "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.pgdata), "-m", mode, "-w", "stop", check=False)

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def migrate(self) -> None:
        upgrade(self.url)

    def _pids(self) -> list[int]:
        """The postmaster and every process it started."""
        postmaster = int((self.pgdata / "postmaster.pid").read_text().splitlines()[0])
        children = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == postmaster:
                    children.append(int(entry.name))
        return [postmaster, *children]

    def _signal_all(self, signum: signal.Signals) -> None:
        # A short-lived child (a backend whose client just left) may exit between the
        # listing and the signal: it needs no signal then, and the others still get theirs.
        for pid in self._pids():
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                continue

    def freeze(self) -> None:
        """SIGSTOP the whole server: it accepts TCP connections and never answers."""
        self._signal_all(signal.SIGSTOP)

    def thaw(self) -> None:
        self._signal_all(signal.SIGCONT)

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def migrated_server() -> Iterator[PrivateServer]:
    """A private server, started and migrated, destroyed afterwards: make it a fixture of
    the scope a test module needs (`pytest.fixture(scope="module")(migrated_server)`)."""
    pg = PrivateServer()
    pg.start()
    pg.migrate()
    yield pg
    pg.destroy()
