# syntax=docker/dockerfile:1
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CIT_DATA_DIR=/data \
    CIT_HOST=0.0.0.0 \
    CIT_PORT=8000

WORKDIR /app
RUN useradd --create-home --uid 10001 cit && mkdir -p /data && chown cit:cit /data

# Dependencies in their own layer: rebuilt only when pyproject.toml changes.
COPY pyproject.toml README.md ./
RUN mkdir -p app migrations && touch app/__init__.py migrations/__init__.py \
    && pip install . && pip uninstall -y cit-dispatch

COPY app ./app
COPY migrations ./migrations
RUN pip install --no-deps .

USER cit
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/livez', timeout=2); sys.exit(0)" || exit 1

# With CIT_DATABASE_URL set it uses that server; without, the embedded PostgreSQL in /data.
CMD ["cit-dispatch", "serve", "--host", "0.0.0.0"]
