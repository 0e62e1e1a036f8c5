"""`serve` stopped by SIGTERM while its server starts.

uvicorn takes SIGTERM once its loop runs, for a graceful shutdown, and raises it again
when done to the handler it found: `serve`'s own, which logged "stopped" and returned. A
SIGTERM that came before uvicorn took the signal (while the loop started) found that
handler alone: it logged, and the server then started and ran on, stopped by nobody (CI:
test_metrics_cli's serve did not end in 30 s; 1 in 6 stops so timed, as a readiness probe
on the metrics port, open first, can time them).
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from typing import Any

import pytest
from pydantic import SecretStr

from app.api.server import Server
from app.cli import build_parser, serving
from app.encryption import generate_key
from app.settings import Settings


def test_a_stop_before_the_server_takes_the_signal_ends_serve(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[bool] = []

    def run(self: Server, sockets: Any = None) -> None:
        # The signal as the loop starts, before uvicorn's handler is in place.
        signal.raise_signal(signal.SIGTERM)
        served.append(True)  # uvicorn would start here and serve on

    monkeypatch.setattr(Server, "run", run)
    bound: list[socket.socket] = []  # the API's socket, closed here as the process would
    listen = serving.api_socket

    def api_socket(host: str, port: int) -> socket.socket:
        bound.append(listen(host, port))
        return bound[0]

    monkeypatch.setattr(serving, "api_socket", api_socket)
    settings = Settings(
        database_url=database_url, data_key=SecretStr(generate_key()), run_relay=False
    )
    with socket.socket() as probe:  # a free port for the API's socket
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = build_parser().parse_args(["serve", "--no-migrate", "--port", str(port)])
    before = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(SystemExit) as stop:
            serving.serve(settings, args)
    finally:
        signal.signal(signal.SIGTERM, before)
        for sock in bound:
            sock.close()
    assert stop.value.code == 0
    assert served == []


def test_a_second_stop_does_not_cut_short_what_the_process_does_as_it_ends() -> None:
    """The first SIGTERM ends serve; one more, while the process ends (its atexit handlers:
    the embedded PostgreSQL's release, which may stop the server), raised SystemExit in the
    middle of that release too, and the server was left running with no process to stop it.
    """
    script = (
        "import atexit, signal, sys\n"
        "from app.cli import serving\n"
        "def release():\n"
        "    signal.raise_signal(signal.SIGTERM)\n"
        "    print('released', flush=True)\n"
        "atexit.register(release)\n"
        "signal.signal(signal.SIGTERM, serving.stopped)\n"
        "signal.raise_signal(signal.SIGTERM)\n"
        "print('ran on', flush=True)\n"
    )
    ended = subprocess.run(  # noqa: S603 (this interpreter)
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert ended.returncode == 0, ended.stderr
    assert ended.stdout.splitlines() == ["released"], ended.stderr
