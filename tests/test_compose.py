"""compose.yaml and deploy/nginx.conf, read as Docker Compose and nginx would read their
wiring (no Docker here): the services, who runs the relay, the proxy's trust, the secrets,
the grace on stop, and PostgreSQL's connection budget."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.pool import QueuePool
from starlette.types import Receive, Scope, Send

from app.api.server import uvicorn_config
from app.db.engine import create_engine
from app.settings import Settings
from app.webhooks.process import RELAY_POOL_SIZE

ROOT = Path(__file__).resolve().parents[1]
SERVES = ("serve-1", "serve-2")
APP_SERVICES = ("migrate", *SERVES, "worker")
SECRETS = ("CIT_DATA_KEY", "CIT_DATABASE_APP_PASSWORD", "POSTGRES_PASSWORD")


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    found: dict[str, Any] = compose["services"]
    return found


@pytest.fixture(scope="module")
def nginx() -> str:
    return (ROOT / "deploy" / "nginx.conf").read_text()


def _env(service: dict[str, Any]) -> dict[str, str]:
    env: dict[str, str] = service.get("environment", {})
    return env


def test_the_stack_has_a_database_a_migration_two_instances_a_worker_and_a_proxy(
    services: dict[str, Any],
) -> None:
    assert set(services) == {"db", *APP_SERVICES, "proxy"}
    for name in APP_SERVICES:
        assert services[name]["build"] == ".", f"{name} is not built from the Dockerfile"
    assert services["migrate"]["command"] == ["cit-dispatch", "migrate"]
    assert services["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert services["worker"]["command"] == ["cit-dispatch", "worker"]


def test_the_database_is_the_official_image_on_a_volume_with_a_health_check(
    services: dict[str, Any],
) -> None:
    db = services["db"]
    assert re.fullmatch(r"postgres:\d+(\.\d+)?(-\w+)?", db["image"]), db["image"]
    assert any(v.endswith(":/var/lib/postgresql/data") for v in db["volumes"])
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])


def test_every_instance_starts_after_the_migration_on_the_same_database(
    services: dict[str, Any],
) -> None:
    url = _env(services["migrate"])["CIT_DATABASE_URL"]
    assert "@db:5432/" in url
    for name in (*SERVES, "worker"):
        service = services[name]
        assert _env(service)["CIT_DATABASE_URL"] == url, name
        assert service["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
    for name in SERVES:
        assert services[name]["command"][:2] == ["cit-dispatch", "serve"]
        assert "--no-migrate" in services[name]["command"]  # migrate did it, once


def test_only_the_worker_runs_the_relay(services: dict[str, Any]) -> None:
    for name in SERVES:
        assert _env(services[name])["CIT_RUN_RELAY"] == "false"
    assert Settings.model_validate({}).run_relay  # the worker relays whatever it is told
    assert "CIT_RUN_RELAY" not in _env(services["worker"])


def test_every_setting_named_exists_and_secrets_come_from_the_environment(
    services: dict[str, Any],
) -> None:
    known = {f"CIT_{name.upper()}" for name in Settings.model_fields}
    for name in APP_SERVICES:
        env = _env(services[name])
        assert set(env) <= known, f"{name}: {set(env) - known} are not settings"
        for variable, value in env.items():
            for secret in SECRETS:
                if secret in value or variable == secret:
                    assert f"${{{secret}:?" in value, f"{name}: {variable} must come from {secret}"
    assert services["db"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")


def test_a_stop_gives_the_shutdown_grace_before_docker_kills(services: dict[str, Any]) -> None:
    for name in (*SERVES, "worker"):
        grace = float(_env(services[name])["CIT_SHUTDOWN_GRACE_SECONDS"])
        stop = services[name]["stop_grace_period"]
        assert stop.endswith("s"), name
        assert float(stop[:-1]) >= grace + 5, name
        assert services[name]["init"] is True  # PID 1 is an init, which passes SIGTERM on


def test_the_worker_and_migration_skip_the_images_http_health_check(
    services: dict[str, Any],
) -> None:
    for name in ("migrate", "worker"):
        assert services[name]["healthcheck"] == {"disable": True}, name


def test_the_proxy_balances_both_instances_which_trust_it_alone(
    services: dict[str, Any], nginx: str
) -> None:
    proxy = services["proxy"]
    assert proxy["image"].startswith("nginx:")
    [mount] = proxy["volumes"]
    source, target, *_ = mount.split(":")
    assert (ROOT / source).resolve() == ROOT / "deploy" / "nginx.conf"
    assert target == "/etc/nginx/nginx.conf"
    [upstream] = re.findall(r"upstream\s+(\w+)\s*\{([^}]*)\}", nginx)
    servers = re.findall(r"server\s+([\w.-]+):(\d+)", upstream[1])
    assert sorted(host for host, _ in servers) == sorted(SERVES)
    for host, port in servers:
        assert f"--port {port}" in " ".join(services[host]["command"])
    assert nginx.count(f"proxy_pass http://{upstream[0]};") >= 2
    address = proxy["networks"]["backend"]["ipv4_address"]
    for name in SERVES:
        env = _env(services[name])
        assert env["CIT_PROXY_HEADERS"] == "true"
        assert env["CIT_FORWARDED_ALLOW_IPS"] == address
        assert "ports" not in services[name], "an instance reachable past the proxy"


def test_no_other_container_can_be_given_the_proxys_fixed_address(
    services: dict[str, Any],
) -> None:
    """Docker gives a container without a fixed address one from the network's ip_range
    (the whole subnet if none): one that took the proxy's address first kept the proxy
    from starting."""
    networks = yaml.safe_load((ROOT / "compose.yaml").read_text())["networks"]
    [config] = networks["backend"]["ipam"]["config"]
    subnet, dynamic = (
        ipaddress.ip_network(config["subnet"]),
        ipaddress.ip_network(config["ip_range"]),
    )
    assert dynamic.subnet_of(subnet)  # type: ignore[arg-type]
    fixed = ipaddress.ip_address(services["proxy"]["networks"]["backend"]["ipv4_address"])
    assert fixed in subnet
    assert fixed not in dynamic


def test_every_process_serves_its_metrics_to_the_network_and_publishes_no_port(
    services: dict[str, Any],
) -> None:
    for name in (*SERVES, "worker"):
        env = _env(services[name])
        settings = Settings.model_validate(
            {"metrics_port": env["CIT_METRICS_PORT"], "metrics_host": env["CIT_METRICS_HOST"]}
        )
        assert settings.metrics_port == 9100, name
        # A scraper on another container reaches it: not on the loopback of its own.
        assert settings.metrics_host == "0.0.0.0", name
        assert "ports" not in services[name], name


def test_the_proxy_closes_an_idle_upstream_connection_before_the_instance_does(
    nginx: str,
) -> None:
    # nginx's default is 60 s: it reused connections uvicorn had closed at 5 s idle, and a
    # POST caught by that close was a 502.
    [upstream] = re.findall(r"upstream\s+\w+\s*\{([^}]*)\}", nginx)
    [seconds] = re.findall(r"keepalive_timeout\s+(\d+)s;", upstream)
    idle_close = uvicorn_config(_no_app, Settings(), "127.0.0.1", 8000).timeout_keep_alive
    assert int(seconds) < idle_close


async def _no_app(scope: Scope, receive: Receive, send: Send) -> None:
    raise AssertionError("not served")


def test_the_proxy_passes_client_address_and_scheme_and_streams_unbuffered(nginx: str) -> None:
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in nginx
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in nginx
    [stream] = re.findall(r"location /v1/stream \{([^}]*)\}", nginx)
    assert "proxy_buffering off;" in stream
    timeout = re.search(r"proxy_read_timeout (\d+)s;", stream)
    assert timeout is not None
    assert int(timeout[1]) > Settings.model_validate({}).stream_heartbeat_seconds


def _most_connections(pool_size: int) -> int:
    """The connections one engine may open (create_engine's pool and its overflow)."""
    engine = create_engine("postgresql://cit@db/cit", pool_size=pool_size)
    pool = engine.sync_engine.pool
    assert isinstance(pool, QueuePool)
    return pool.size() + pool._max_overflow


def test_postgres_allows_every_connection_the_stack_may_open(services: dict[str, Any]) -> None:
    command = services["db"]["command"]
    [allowed] = [int(c.split("=")[1]) for c in command if c.startswith("max_connections=")]
    per_serve = [
        # Requests' pool (live-feed LISTEN included), and the housekeeping engine.
        _most_connections(int(_env(services[name])["CIT_DB_POOL_SIZE"])) + _most_connections(1)
        for name in SERVES
    ]
    # The worker's relay engine (LISTEN included): the same as serve's relay child opens.
    worker = _most_connections(RELAY_POOL_SIZE)
    reserved = 3 + 2  # PostgreSQL's superuser_reserved_connections; migrate or a CLI run
    assert sum(per_serve) + worker + reserved <= allowed, (per_serve, worker, allowed)
