"""Every environment variable name the backbone reads, in one place.

Settings classes read these through pydantic-settings; the Helm chart, compose file and tests
check their own variable names against this module.
"""

from __future__ import annotations

__all__ = [
    "DATABASE_URL",
    "INGEST_DEMO_SECRETS",
    "KAFKA_BOOTSTRAP_SERVERS",
    "ODOO_API_KEY",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "PARTNER_SECRETS_DIR",
    "PREFIX",
    "SCHEMA_REGISTRY_URL",
    "STACK_ENV_FILE",
    "partner_secret_var",
]

# Standard names used by Kafka/Confluent tooling; an explicit value always wins over the local stack.
KAFKA_BOOTSTRAP_SERVERS = "KAFKA_BOOTSTRAP_SERVERS"
SCHEMA_REGISTRY_URL = "SCHEMA_REGISTRY_URL"
DATABASE_URL = "DATABASE_URL"

# Read by the OpenTelemetry SDK's TracerProvider (backbone.telemetry): head sampling at ingest,
# followed downstream (parentbased_traceidratio); unset records every span.
OTEL_TRACES_SAMPLER = "OTEL_TRACES_SAMPLER"
OTEL_TRACES_SAMPLER_ARG = "OTEL_TRACES_SAMPLER_ARG"

# Everything else is namespaced.
PREFIX = "BACKBONE_"
STACK_ENV_FILE = "BACKBONE_STACK_ENV"  # path of the stack.env to read when the three above are unset
ODOO_API_KEY = "BACKBONE_ODOO_API_KEY"
PARTNER_SECRETS_DIR = "BACKBONE_PARTNER_SECRETS_DIR"  # mounted secrets, one file per partner id
INGEST_DEMO_SECRETS = "BACKBONE_INGEST_DEMO_SECRETS"  # local demo only: config/demo-secrets.yaml


def partner_secret_var(partner_id: str) -> str:
    """Env variable holding a partner's secret: ``generic-tms`` -> ``BACKBONE_PARTNER_GENERIC_TMS_SECRET``."""
    return f"{PREFIX}PARTNER_{partner_id.upper().replace('-', '_')}_SECRET"
