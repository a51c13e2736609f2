# syntax=docker/dockerfile:1
# Multi-stage: a virtualenv built from the hash-locked requirements, then a slim runtime image
# that runs as a non-root user. The production image (`runtime`, the default target) holds the
# service alone: no simulator, no embedded PostgreSQL (the `embedded` extra is not installed),
# no tests. The `demo` target adds the simulator, for docker compose's demo profile.
# The base image is pinned by digest; refresh it with
#   docker buildx imagetools inspect python:3.11-slim-bookworm
# and update both FROM lines together.

FROM python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH"
# Every dependency at the version and hash of requirements.lock (`make lock` writes it).
COPY requirements.lock ./
RUN pip install --no-compile --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY app ./app
RUN rm -rf app/simulator && pip install --no-compile --no-deps .

FROM python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b AS runtime
ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    LOG_FORMAT=json \
    DATA_DIR=/tmp/usage-pipeline
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
# Migrations are read from the source tree next to the package (alembic.ini + alembic/).
COPY --chown=app:app alembic.ini ./
COPY --chown=app:app alembic ./alembic
COPY --from=build --chown=app:app /app/app ./app
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/livez', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["usage-pipeline"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]

FROM runtime AS demo
COPY --chown=app:app app/simulator ./app/simulator

# The default target: what `docker build .` makes and a cluster runs.
FROM runtime
