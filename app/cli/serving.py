"""`cit-dispatch serve` and `cit-dispatch worker`: the long-running commands."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import importlib.metadata
import logging
import signal
import socket
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from app.cli.common import CliError, data_cipher, database, database_url, migrate
from app.settings import Settings

if TYPE_CHECKING:
    from app import metrics

log = logging.getLogger("cit_dispatch.cli")


def refuse_a_schema_not_at_head(url: str) -> None:
    """serve --no-migrate on a database this release's migrations did not bring to their
    end: refused at once, or /readyz said ready and every request was a 500."""
    from app.db.migrate import head_revision, knows_revision, schema_revision

    found, head = schema_revision(url), head_revision()
    if found == head:
        return
    if found is None:
        raise CliError(
            "the database has not been migrated: run `cit-dispatch migrate` first, or serve"
            " without --no-migrate"
        )
    if not knows_revision(found):
        raise CliError(
            f"the database's schema is at revision {found}, which this release does not know:"
            " a newer release of cit-dispatch upgraded it; run that release"
        )
    raise CliError(
        f"the database's schema is at revision {found}, this release's at {head}: run"
        " `cit-dispatch migrate` first, or serve without --no-migrate"
    )


def serve(settings: Settings, args: argparse.Namespace) -> int:
    from app.api.app import create_app
    from app.api.server import Server, uvicorn_config

    settings = serve_settings(settings, args)
    cipher = data_cipher(settings)
    listener = metrics_listener(settings)
    if listener is not None and not settings.run_relay:
        from app import metrics

        metrics.without_a_relay()
    host = settings.host
    sock = api_socket(host, settings.port)
    port = sock.getsockname()[1]  # the one given, or the one taken for 0
    url = database_url(settings)
    if args.no_migrate:
        refuse_a_schema_not_at_head(url)
    else:
        migrate(settings, url)
    if args.demo:
        from app.demo import seed_demo

        asyncio.run(seed_demo(url, base_url=f"http://{display_host(host)}:{port}"))
    # The relay (CIT_RUN_RELAY) in a child process: on a thread it would wait for the GIL
    # behind a busy API (app/webhooks/process.py).
    app = create_app(settings, url, cipher=cipher, relay_process=True, metrics_listener=listener)
    # uvicorn catches SIGTERM for its graceful shutdown, then raises it again once done,
    # to the handler it found: this one, so a finished shutdown exits 0, not by the signal.
    signal.signal(signal.SIGTERM, stopped)
    said = started_line(settings, url, listener, relay=settings.run_relay)
    log.info("serving", extra={"listen": f"{display_host(host)}:{port}", **said})
    Server(uvicorn_config(app, settings, host, port)).run(sockets=[sock])
    return 0


def started_line(
    settings: Settings, url: str, listener: metrics.Listener | None, *, relay: bool
) -> dict[str, Any]:
    """What an operator reads first in a process's log: its release, the database it runs
    on (its server, never its user; and the server's version), where its metrics are,
    and whether it runs the webhook relay."""
    from app.db.dsn import server_of, server_version

    return {
        "release": release(),
        "database": server_of(url),
        "database_version": asyncio.run(server_version(url)),
        "metrics": None
        if listener is None
        else f"{display_host(settings.metrics_host)}:{listener.port}",
        "relay": relay,
    }


def release() -> str:
    """This installation's version of cit-dispatch."""
    try:
        return importlib.metadata.version("cit-dispatch")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree, uninstalled
        return "unknown"


def host_at_fault(exc: OSError) -> bool:
    """Whether a listener's bind failed for its host (a name that does not resolve, an
    address this machine does not have), not its port (taken, or not allowed)."""
    return isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL


def api_socket(host: str, port: int) -> socket.socket:
    """The API's socket, bound before anything else runs (as uvicorn would bind it): a port
    already taken is said at once, in one line, not after migrating and in uvicorn's log."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        # A name that does not resolve, or an address this machine does not have, is the
        # host's mistake; a port taken or not allowed, the port's.
        setting = "CIT_HOST (--host)" if host_at_fault(exc) else "CIT_PORT (--port)"
        raise CliError(
            f"{setting}: cannot listen on {host}:{port} ({exc.strerror or exc})"
        ) from None
    return sock


def metrics_listener(settings: Settings) -> metrics.Listener | None:
    """The CIT_METRICS_PORT listener, taken before anything else runs: a port already
    taken is said at once, in one line."""
    from app import metrics

    if settings.metrics_port is None:
        return None
    try:
        return metrics.listen(settings.metrics_host, settings.metrics_port)
    except metrics.ListenerError as exc:
        raise CliError(str(exc)) from None


def stopped(signal_number: int, frame: object) -> None:
    """SIGTERM's handler beside uvicorn's: uvicorn raises the signal again once its graceful
    shutdown is done, and the process then ends, 0. One that comes before uvicorn takes the
    signal (while its loop starts) finds this handler alone: it logged and returned, and the
    server started and ran on, stopped by nobody, until a SIGKILL (1 in 6 stops so timed,
    as a readiness probe on the metrics port can time them). Either way it ends now."""
    log.info("stopped", extra={"signal": signal.Signals(signal_number).name})
    # Once: a SIGTERM after this one comes while the process ends (asyncio's teardown, the
    # embedded PostgreSQL's release at exit), and an exception raised there would cut that
    # short, leaving the server running with no process to stop it.
    signal.signal(signal.SIGTERM, _stopping)
    raise SystemExit(0)


def _stopping(signal_number: int, frame: object) -> None:
    """SIGTERM's handler once the process is ending: said, and nothing else."""
    log.info("stopping already", extra={"signal": signal.Signals(signal_number).name})


def serve_settings(settings: Settings, args: argparse.Namespace) -> Settings:
    """The settings with serve's options applied over the environment's."""
    options = {
        "host": args.host,
        "port": args.port,
        "proxy_headers": args.proxy_headers,
        "forwarded_allow_ips": args.forwarded_allow_ips,
    }
    given = {name: value for name, value in options.items() if value is not None}
    try:
        return Settings.model_validate({**settings.model_dump(), **given})
    except ValidationError as exc:
        error = exc.errors()[0]
        if not error["loc"]:  # a rule across settings: its message names them
            raise CliError(error["msg"]) from None
        option = "--" + "-".join(str(part) for part in error["loc"]).replace("_", "-")
        raise CliError(f"{option}: {error['msg']}") from None


def worker(settings: Settings) -> int:
    from app.tracing import start_tracing
    from app.webhooks.process import run_loop, run_relay

    cipher = data_cipher(settings)
    # On the host of a `serve`, the worker needs another CIT_METRICS_PORT.
    listener = metrics_listener(settings)
    start_tracing()  # webhook sends, when OTEL_EXPORTER_OTLP_ENDPOINT is set

    try:
        url = database(settings)
        said = started_line(settings, url, listener, relay=True)
        log.info("webhook worker started", extra=said)
        with contextlib.suppress(KeyboardInterrupt):
            # A graceful stop on SIGTERM or SIGINT: no new claims, unsent claims given back,
            # sends in flight get CIT_SHUTDOWN_GRACE_SECONDS (Relay.stop).
            run_loop(run_relay(url, settings, cipher))
        log.info("webhook worker stopped")
    finally:
        if listener is not None:
            listener.close()
    return 0


def display_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::") else host
