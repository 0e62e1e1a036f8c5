# syntax=docker/dockerfile:1
# An exact tag, so a rebuild gets the same Python and Debian release. Add its digest where
# the registry is reachable (`docker buildx imagetools inspect python:3.11.17-slim-bookworm`)
# to pin it byte for byte: FROM python:3.11.17-slim-bookworm@sha256:…
FROM python:3.11.17-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CIT_DATA_DIR=/data \
    CIT_HOST=0.0.0.0 \
    CIT_PORT=8000

WORKDIR /app
RUN useradd --create-home --uid 10001 cit && mkdir -p /data && chown cit:cit /data

# Dependencies in their own layer: rebuilt only when pyproject.toml changes. pyproject names
# README.md as the package's readme, so an empty one stands in for it here: editing the
# README must not reinstall every dependency. With the otel extra, so a container traces
# when given OTEL_EXPORTER_OTLP_ENDPOINT (and loads none of it without).
COPY pyproject.toml ./
RUN mkdir -p app migrations && touch README.md app/__init__.py migrations/__init__.py \
    && pip install ".[otel]" && pip uninstall -y cit-dispatch

COPY README.md ./
COPY app ./app
COPY migrations ./migrations
RUN pip install --no-deps .

USER cit
VOLUME ["/data"]
EXPOSE 8000
# The port serve listens on: CIT_PORT, read when the check runs (`docker run -e CIT_PORT=…`).
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD python -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" \
        "http://127.0.0.1:${CIT_PORT:-8000}/livez" || exit 1

# With CIT_DATABASE_URL set it uses that server; without, the embedded PostgreSQL in /data.
CMD ["cit-dispatch", "serve", "--host", "0.0.0.0"]
