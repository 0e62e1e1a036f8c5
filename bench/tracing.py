"""Whether the benchmarked service traces, found the way the service starts, not assumed.

The service runs in a subprocess of its own (`cit-dispatch serve`), whose modules the
benchmark cannot see. So a fresh interpreter, in the environment the service gets, builds
the app as `serve` does (create_app, its middleware stack) and reports which OpenTelemetry
modules that loaded beyond those `import fastapi` loads by itself (FastAPI imports the
OpenTelemetry API, a no-op without a provider).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_PROBE = """
import json, sys
import fastapi
before = {m for m in sys.modules if m.startswith("opentelemetry")}
from app.api.app import create_app
from app.encryption import generate_key, load_cipher
from app.settings import Settings, get_settings
from pydantic import SecretStr

settings = get_settings()
cipher = load_cipher(Settings(data_key=SecretStr(generate_key())))
app = create_app(settings, "postgresql://127.0.0.1:1/none", cipher=cipher)
app.build_middleware_stack()
after = {m for m in sys.modules if m.startswith("opentelemetry")}
print(json.dumps(sorted(after - before)))
"""


def service_tracing(env: Mapping[str, str] | None = None) -> str:
    """One line for the benchmark's output: is tracing on in a service with env?"""
    environ = dict(os.environ if env is None else env)
    done = subprocess.run(
        [sys.executable, "-c", _PROBE],
        env=environ,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    loaded: list[str] = json.loads(done.stdout.splitlines()[-1])
    endpoint = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    if endpoint:
        return (
            f"tracing: ON, exporting to {endpoint} ({len(loaded)} opentelemetry modules loaded"
            " by the service's app): the figures include its cost"
        )
    if loaded:
        return f"tracing: off, yet the service's app loaded {', '.join(loaded)}"
    return (
        "tracing: off (OTEL_EXPORTER_OTLP_ENDPOINT unset; the service's app loads no"
        " opentelemetry module beyond the no-op API that FastAPI imports itself)"
    )
