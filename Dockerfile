# syntax=docker/dockerfile:1
# One image for every service: `backbone <command>` (ingest, normalizer, odoo-sink, wms-bridge,
# carrier-bridge, schemas register, topics apply, sim odoo|wms|carrier).
#   docker build -t logistics-backbone:0.1.0 .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: resolve and install into a virtualenv; compilers stay in this stage ----
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# Every dependency ships manylinux wheels for CPython 3.11; the toolchain is only a fallback for a
# platform without them (e.g. a new arm64 release) and never reaches the final image.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first, so editing the code does not re-download them.
COPY pyproject.toml README.md ./
RUN mkdir -p backbone services simulators \
 && touch backbone/__init__.py services/__init__.py simulators/__init__.py \
 && pip install . \
 && pip uninstall -y logistics-backbone
COPY backbone ./backbone
COPY services ./services
COPY simulators ./simulators
RUN pip install --no-deps . \
 && python -m compileall -q /opt/venv/lib

# ---- runtime: slim Python, the virtualenv and the data files, nothing else ----
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="logistics-backbone" \
      org.opencontainers.image.description="Logistics event backbone: partner webhooks -> Kafka -> canonical Avro milestones -> Odoo, WMS and carriers" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 backbone \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home --shell /usr/sbin/nologin backbone \
 && mkdir -p /var/lib/backbone/normalizer \
 && chown -R 10001:10001 /var/lib/backbone
COPY --from=build /opt/venv /opt/venv
# Data the runtime reads from BACKBONE_HOME: topics.yaml (topic names), schemas/*.avsc (Avro
# contracts), config/ (partner definitions). Owned by root and read-only for the service user.
WORKDIR /app
COPY topics.yaml ./topics.yaml
COPY schemas ./schemas
COPY config ./config
ENV PATH=/opt/venv/bin:$PATH \
    BACKBONE_HOME=/app \
    BACKBONE_NORMALIZER_DATADIR=/var/lib/backbone/normalizer \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
# ingest HTTP, normalizer (Faust web), sinks/bridges health
EXPOSE 8080 6066 8081
ENTRYPOINT ["backbone"]
CMD ["--help"]
