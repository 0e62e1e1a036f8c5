"""Service configuration, read from CIT_* environment variables."""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.db.dsn import checked

# The longest wait before a webhook retry a schedule may give.
LONGEST_RETRY_DELAY = 7 * 86_400.0


class Settings(BaseSettings):
    # Every number has bounds: a value the database or the event loop cannot hold (a rate
    # limit past int32, a lockout past the timestamps' range, an infinite timeout, a
    # negative body limit) started the service, then failed or refused every request.
    model_config = SettingsConfigDict(env_prefix="CIT_", extra="ignore")

    # postgresql://… of an external server; unset means the embedded pgserver in data_dir.
    database_url: str | None = None
    # Requests run as the role cit_app, which owns no table and is bound by row-level
    # security; the role in CIT_DATABASE_URL owns the schema (migrations, CLI, relay).
    # Set when the server asks cit_app for a password; `migrate` then sets it.
    database_app_password: SecretStr | None = None
    data_dir: Path = Path(".cit-dispatch")
    # Comma-separated urlsafe base64 32-byte keys for notes and webhook secrets at rest: the
    # first encrypts, all decrypt (rotation). Parsed by app.encryption.load_cipher.
    data_key: SecretStr | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # Behind a reverse proxy: take the client address (failed-authentication lockouts, the
    # audit trail) from X-Forwarded-For, and the scheme from X-Forwarded-Proto, but only
    # when the connection comes from one of forwarded_allow_ips (addresses or networks,
    # comma-separated, or "*"). These are uvicorn's defaults, stated here so they are seen.
    proxy_headers: bool = True
    forwarded_allow_ips: str = "127.0.0.1,::1"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Sized for a busy console floor: connections above the pool are closed when returned,
    # so a pool smaller than the concurrency reconnects dozens of times a second.
    db_pool_size: int = Field(default=32, ge=1, le=200)
    # /readyz answers 503 when the database has not answered its one round trip by then
    # (a hung server accepts connections and never answers).
    readyz_timeout_seconds: float = Field(default=2.0, gt=0.0, le=60.0)
    # How long a request waits for the database to answer one statement (a lock held by a
    # migration, a server that froze or a network that dropped it) before it answers 503:
    # a CAD waiting on a hung database would time out with no answer, and retry blind.
    database_timeout_seconds: float = Field(default=10.0, gt=0.0, le=600.0)
    # How long an instance keeps a cached agency context or API key. Changes are announced
    # (app/services/changes.py) and reach every instance within a second; this bounds one
    # that missed the announcement, so at most 5 s.
    cache_ttl_seconds: float = Field(default=2.0, ge=0.0, le=5.0)
    max_body_bytes: int = Field(default=256 * 1024, ge=1024, le=64 * 1024 * 1024)
    # A request's headers must arrive within this many seconds of the connection opening
    # (or of the request's first byte on a kept-alive connection), and its body within
    # body_timeout_seconds of its headers; otherwise 408 and the connection is closed.
    header_timeout_seconds: float = Field(default=10.0, gt=0.0, le=3600.0)
    body_timeout_seconds: float = Field(default=30.0, gt=0.0, le=3600.0)
    # Open connections per process; beyond it a new connection gets a quick 503 and is closed.
    max_connections: int = Field(default=1000, ge=1, le=1_000_000)
    # Requests being handled at once per process; beyond it, 503 with Retry-After at once
    # (/livez excepted). 0: no limit. Twice the default pool: a console floor's burst of 50
    # requests passes, while 200 clients on a 2-core instance are shed, not queued for seconds.
    max_in_flight: int = Field(default=64, ge=0, le=1_000_000)
    # Idempotency-Key records are kept at least this long (the IETF draft asks for 24 h).
    idempotency_ttl_hours: float = Field(default=24.0, ge=24.0, le=24.0 * 366)
    # Run the webhook relay inside `serve` (set false when `cit-dispatch worker` runs it).
    run_relay: bool = True
    webhook_allow_private_targets: bool = False
    webhook_retry_schedule: str = "5,300,1800,7200,18000,36000,36000"
    # CJIS asks for a year at least; entries older than this are purged daily.
    audit_retention_days: int = Field(default=400, ge=365, le=36_500)
    # Outbox events (and their finished webhook deliveries) older than this are removed
    # hourly; an event with a delivery still pending stays.
    event_retention_days: int = Field(default=30, ge=1, le=36_500)
    # Failed authentications from one client address before it is locked out, and for how long.
    auth_failure_limit: int = Field(default=5, ge=1, le=1_000_000)
    auth_lockout_seconds: int = Field(default=600, ge=1, le=30 * 86_400)
    # Requests per minute per API key, across every instance together (0: no limit).
    rate_limit_per_minute: int = Field(default=6000, ge=0, le=10_000_000)
    # How often `serve` looks ahead for coverage gaps and expiring certifications to announce
    # (docs/reports.md, "Alerts"); 0 turns the alerts off on this instance.
    alert_interval_seconds: float = Field(default=600.0, ge=0.0, le=86_400.0)
    # The live feed (GET /v1/stream): a comment line after this many quiet seconds keeps
    # proxies from closing it; at most max_streams open per process, beyond it 503; at most
    # max_streams_per_key of them one API key's, beyond it 429.
    stream_heartbeat_seconds: float = Field(default=15.0, gt=0.0, le=300.0)
    max_streams: int = Field(default=200, ge=1, le=1_000_000)
    max_streams_per_key: int = Field(default=50, ge=1, le=1_000_000)
    # Browser origins allowed by CORS, comma-separated; empty means CORS stays off.
    cors_origins: str = ""
    # On SIGTERM, how long `serve` lets requests in flight finish, and `serve`'s relay or
    # `worker` lets webhook sends in flight finish, before it cuts them off (a cut-off
    # delivery's lease is released, so another relay sends it again at once). Give the
    # orchestrator's kill timeout a few seconds more (docker's stop_grace_period).
    shutdown_grace_seconds: float = Field(default=20.0, ge=0.0, le=600.0)
    # Prometheus metrics (GET /metrics) on a listener of their own, never the API's port;
    # unset: no listener. `serve` and `worker` each open one, so on one host they need
    # different ports. Loopback by default: the metrics are for the monitoring host only.
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = Field(default=None, ge=1, le=65535)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        """Seconds, each finite and at most LONGEST_RETRY_DELAY: inf, nan or 1e12 passed,
        and failed at the first retry, in the relay; "" is no retries at all."""
        parts = value.split(",") if value.strip() else []
        try:
            delays = [float(part) for part in parts]
        except ValueError:
            raise ValueError("a comma-separated list of seconds, e.g. 5,300,1800") from None
        if not all(0 <= d <= LONGEST_RETRY_DELAY for d in delays):  # False for nan
            raise ValueError(f"each retry delay is 0 to {LONGEST_RETRY_DELAY:.0f} seconds (7 days)")
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxy_addresses(cls, value: str) -> str:
        """Addresses and networks as uvicorn reads them, or "*": uvicorn keeps any other
        entry as a literal that no connection's address matches, so a typo would leave
        the proxy untrusted without a word."""
        if value.strip() == "*":
            return "*"  # uvicorn compares the raw string with "*"
        for entry in (part.strip() for part in value.split(",")):
            if not entry:
                continue
            try:
                if "/" in entry:
                    ipaddress.ip_network(entry)
                else:
                    ipaddress.ip_address(entry)
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an IP address or network (host bits unset), nor '*'"
                ) from None
        return value

    @field_validator("data_key", mode="before")
    @classmethod
    def _blank_key_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("metrics_port", mode="before")
    @classmethod
    def _blank_port_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _metrics_apart(self) -> Self:
        if self.metrics_port is not None and self.metrics_port == self.port:
            raise ValueError(
                f"CIT_METRICS_PORT cannot be the API's port ({self.port}): metrics are served"
                " on a listener of their own"
            )
        return self

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("postgresql://", "postgres://", "postgresql+asyncpg://")):
            raise ValueError("CIT_DATABASE_URL must be a postgresql:// URL")
        return checked(value)


# CIT_ names in an environment that are not settings, and not mistakes: the demo's key for
# curl (README), and what the test suite and its fuzz read.
_NOT_SETTINGS = ("CIT_KEY", "CIT_TEST_", "CIT_FUZZ_")


def unknown_settings(environ: Mapping[str, str]) -> list[str]:
    """A line for each CIT_ variable in environ that no setting reads (a typo'd
    CIT_DATABSE_URL leaves serve on the embedded server), with the setting it may mean."""
    known = [name.upper() for name in Settings.model_fields]
    lines = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith("CIT_") or upper[4:] in known or upper.startswith(_NOT_SETTINGS):
            continue
        close = difflib.get_close_matches(upper[4:], known, n=1, cutoff=0.8)
        hint = f" (did you mean CIT_{close[0]}?)" if close else ""
        lines.append(f"{name} is not a setting{hint}; it is ignored")
    return lines


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings (tests clear the cache to override)."""
    return Settings()
