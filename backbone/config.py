"""Typed settings shared by every service (12-factor: environment first).

Each service declares one frozen ``*Config`` on top of :class:`BackboneConfig`. Connection
settings come from ``KAFKA_BOOTSTRAP_SERVERS`` / ``SCHEMA_REGISTRY_URL`` / ``DATABASE_URL`` when set,
else from the local stack's ``.backbone/stack.env`` written by ``backbone stack up``.

Example::

    class IngestConfig(BackboneConfig):
        model_config = service_config("INGEST_")
        port: int = 8080

    cfg = load(IngestConfig)  # raises ConfigError naming the bad variable
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import AliasChoices, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from backbone import env
from backbone.errors import ConfigError

__all__ = [
    "BackboneConfig",
    "KafkaSecurity",
    "load",
    "read_stack_env",
    "repo_root",
    "service_config",
    "state_dir",
]

C = TypeVar("C", bound="BackboneConfig")


def repo_root() -> Path:
    """The checkout root (where topics.yaml lives); overridable with BACKBONE_HOME for installed images."""
    home = os.environ.get("BACKBONE_HOME")
    if home:
        return Path(home)
    return Path(__file__).resolve().parent.parent


def state_dir() -> Path:
    """Where the local stack keeps pids, logs, data and stack.env (git-ignored)."""
    return Path(os.environ.get("BACKBONE_STATE_DIR", repo_root() / ".backbone"))


def read_stack_env(path: Path | None = None) -> dict[str, str]:
    """Parse ``KEY=value`` lines of the local stack's env file; empty when there is none."""
    path = path or Path(os.environ.get(env.STACK_ENV_FILE, state_dir() / "stack.env"))
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def service_config(prefix: str = "") -> SettingsConfigDict:
    """The model_config every settings class uses: ``BACKBONE_<prefix>`` env vars, frozen, no extras."""
    return SettingsConfigDict(
        env_prefix=f"{env.PREFIX}{prefix}",
        frozen=True,
        extra="ignore",
        case_sensitive=False,
    )


class KafkaSecurity(BaseSettings):
    """SASL/TLS options passed through to librdkafka for real clusters (MSK, Confluent Cloud, Strimzi)."""

    model_config = service_config("KAFKA_")

    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None

    def librdkafka(self) -> dict[str, str]:
        conf: dict[str, str] = {"security.protocol": self.security_protocol}
        if self.sasl_mechanism:
            conf["sasl.mechanism"] = self.sasl_mechanism
        if self.sasl_username:
            conf["sasl.username"] = self.sasl_username
        if self.sasl_password:
            conf["sasl.password"] = self.sasl_password.get_secret_value()
        for key in ("ssl_ca_location", "ssl_certificate_location", "ssl_key_location"):
            value = getattr(self, key)
            if value:
                conf[key.replace("_", ".")] = value
        return conf


class BackboneConfig(BaseSettings):
    """Connection settings every service needs."""

    model_config = service_config()

    kafka_bootstrap_servers: str = Field(
        default="", validation_alias=AliasChoices(env.KAFKA_BOOTSTRAP_SERVERS, "kafka_bootstrap_servers")
    )
    schema_registry_url: str = Field(
        default="", validation_alias=AliasChoices(env.SCHEMA_REGISTRY_URL, "schema_registry_url")
    )
    database_url: SecretStr = Field(
        default=SecretStr(""), validation_alias=AliasChoices(env.DATABASE_URL, "database_url")
    )
    # Shared settings keep their BACKBONE_ names in every service (aliases bypass the service prefix).
    topics_file: Path = Field(
        default_factory=lambda: repo_root() / "topics.yaml",
        validation_alias=AliasChoices("BACKBONE_TOPICS_FILE", "topics_file"),
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", validation_alias=AliasChoices("BACKBONE_LOG_LEVEL", "log_level")
    )
    log_format: Literal["json", "console"] = Field(
        default="json", validation_alias=AliasChoices("BACKBONE_LOG_FORMAT", "log_format")
    )
    kafka: KafkaSecurity = Field(default_factory=KafkaSecurity)

    def require(self, *names: str) -> None:
        """Fail fast, naming the variable, when a connection setting the caller needs is empty."""
        alias = {
            "kafka_bootstrap_servers": env.KAFKA_BOOTSTRAP_SERVERS,
            "schema_registry_url": env.SCHEMA_REGISTRY_URL,
            "database_url": env.DATABASE_URL,
        }
        for name in names:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if not value:
                raise ConfigError(
                    f"{alias.get(name, name)} is not set; export it or run `backbone stack up` "
                    "and `source .backbone/stack.env`"
                )


def load(cls: type[C], **overrides: Any) -> C:
    """Build settings from the environment (then the local stack.env), translating validation errors."""
    stack = read_stack_env()
    defaults: dict[str, Any] = {}
    for field, var in (
        ("kafka_bootstrap_servers", env.KAFKA_BOOTSTRAP_SERVERS),
        ("schema_registry_url", env.SCHEMA_REGISTRY_URL),
        ("database_url", env.DATABASE_URL),
    ):
        if not os.environ.get(var) and stack.get(var):
            defaults[field] = stack[var]
    try:
        return cls(**{**defaults, **overrides})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ConfigError(f"invalid {cls.__name__} settings: {problems}") from exc
