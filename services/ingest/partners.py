"""config/partners.yaml, loaded and validated once: who may write, where, in which format, how signed.

Secrets never live in that file. Each partner's secret (webhook signing secret, URL token or API
key) comes from ``BACKBONE_PARTNER_<ID>_SECRET`` or from the file ``<secrets_dir>/<id>`` (a mounted
Kubernetes Secret); several lines mean several valid secrets during a rotation. Only with the
explicit demo flag are missing secrets taken from ``config/demo-secrets.yaml`` (local runs).

Example::

    directory = load_partners(cfg)
    partner = directory.get("easypost")          # Partner | None
    partner = directory.by_api_key("tk_...")    # the partner owning that key, or None
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from backbone import env
from backbone import headers as h
from backbone.errors import ConfigError
from backbone.signatures import sign_standard_webhooks
from services.ingest.config import DEMO_SECRETS_VAR, IngestConfig

__all__ = ["CHANNELS", "SCHEMES", "Partner", "PartnerDirectory", "RateLimit", "load_partners"]

log = logging.getLogger(__name__)

Channel = Literal["carrier-tracking", "warehouse", "erp"]
Scheme = Literal[
    "easypost-hmac", "aftership-hmac", "shiphero-hmac", "standard-webhooks", "shippo-token", "shippo-hmac", "api-key"
]
CHANNELS: tuple[str, ...] = Channel.__args__  # type: ignore[attr-defined]
SCHEMES: tuple[str, ...] = Scheme.__args__  # type: ignore[attr-defined]
PARTNER_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
MIN_API_KEY_LENGTH = 16


class RateLimit(BaseModel):
    """Token bucket: ``per_second`` events refill, up to ``burst`` at once."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    per_second: float = Field(gt=0, le=1_000_000)
    burst: int = Field(ge=1, le=10_000_000)


class _Defaults(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rate_limit: RateLimit = RateLimit(per_second=200, burst=400)
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=16 * 1_048_576)
    timestamp_tolerance_s: float = Field(default=300, gt=0, le=86_400)


class _PartnerSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    channel: Channel
    format: str = Field(pattern=r"^[a-z0-9-]+\.[a-z0-9_.-]+$", max_length=100)
    signature: Scheme
    enabled: bool = True
    description: str = ""
    rate_limit: RateLimit | None = None
    max_body_bytes: int | None = Field(default=None, ge=1024, le=16 * 1_048_576)
    timestamp_tolerance_s: float | None = Field(default=None, gt=0, le=86_400)


class _PartnersFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    defaults: _Defaults = _Defaults()
    partners: dict[str, _PartnerSpec]


@dataclass(frozen=True)
class Partner:
    """One enabled partner with its resolved secrets (never printed: ``repr=False``)."""

    id: str
    channel: str
    format: str
    scheme: str
    rate_limit: RateLimit
    max_body_bytes: int
    tolerance_s: float
    secrets: tuple[str, ...] = field(repr=False)

    @functools.cached_property
    def topic_role(self) -> str:
        return f"raw.{self.channel}"

    @functools.cached_property
    def fixed_headers(self) -> tuple[tuple[str, bytes], ...]:
        """Kafka headers identical on every record of this partner (encoded once)."""
        return ((h.PARTNER, self.id.encode()), (h.FORMAT, self.format.encode()))


@dataclass(frozen=True)
class PartnerDirectory:
    """Enabled partners by id, plus an index of API keys by their SHA-256 (no secret-dependent timing)."""

    path: Path
    partners: Mapping[str, Partner]
    _api_keys: Mapping[bytes, str] = field(default_factory=dict, repr=False)

    def get(self, partner_id: str) -> Partner | None:
        return self.partners.get(partner_id)

    def by_api_key(self, key: str) -> Partner | None:
        owner = self._api_keys.get(_digest(key))
        return self.partners[owner] if owner else None

    @property
    def max_body_bytes(self) -> int:
        return max((p.max_body_bytes for p in self.partners.values()), default=1_048_576)

    @classmethod
    def build(cls, path: Path, partners: Iterable[Partner]) -> PartnerDirectory:
        by_id = {p.id: p for p in partners}
        keys: dict[bytes, str] = {}
        for partner in by_id.values():
            if partner.scheme != "api-key":
                continue
            for secret in partner.secrets:
                digest = _digest(secret)
                if digest in keys:
                    raise ConfigError(f"{path}: partners {keys[digest]!r} and {partner.id!r} share an API key")
                keys[digest] = partner.id
        return cls(path, by_id, keys)


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: not valid YAML: {exc}") from exc


def _parse(path: Path) -> _PartnersFile:
    data = _read_yaml(path)
    try:
        parsed = _PartnersFile.model_validate(data)
    except ValidationError as exc:
        problems = [f"{path}: {'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()[:5]]
        raise ConfigError("\n".join(problems)) from exc
    for partner_id in parsed.partners:
        if not re.match(PARTNER_ID_PATTERN, partner_id):
            raise ConfigError(f"{path}: partners.{partner_id}: ids are lower-case letters, digits and '-'")
    return parsed


def _split(text: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def _demo_secrets(cfg: IngestConfig) -> Mapping[str, str]:
    if not cfg.demo_secrets:
        return {}
    data = _read_yaml(cfg.demo_secrets_file) or {}
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ConfigError(f"{cfg.demo_secrets_file}: expected a mapping of partner id -> secret string")
    log.warning("demo partner secrets enabled (%s=1): never use this outside a local demo", DEMO_SECRETS_VAR)
    return {str(k): v for k, v in data.items()}


def _secrets_for(partner_id: str, cfg: IngestConfig, demo: Mapping[str, str], path: Path) -> tuple[str, ...]:
    var = env.partner_secret_var(partner_id)
    from_env = os.environ.get(var, "")
    if from_env.strip():
        return _split(from_env)
    if cfg.secrets_dir is not None:
        candidate = cfg.secrets_dir / partner_id
        if candidate.is_file():
            try:
                found = _split(candidate.read_text())
            except OSError as exc:
                raise ConfigError(f"cannot read secret file {candidate}: {exc.strerror}") from exc
            if found:
                return found
    if partner_id in demo:
        return _split(demo[partner_id])
    where = f" or mount {cfg.secrets_dir / partner_id}" if cfg.secrets_dir else ""
    raise ConfigError(
        f"{path}: partners.{partner_id}: no secret; set {var}{where} "
        f"(local demo only: {DEMO_SECRETS_VAR}=1), or set `enabled: false`"
    )


def _check_secrets(partner_id: str, scheme: str, secrets: tuple[str, ...], path: Path) -> None:
    for secret in secrets:
        if scheme == "standard-webhooks":
            try:
                sign_standard_webhooks("probe", 0, b"", secret)
            except ConfigError as exc:
                raise ConfigError(f"{path}: partners.{partner_id}: {exc.message}") from None
        elif scheme == "api-key" and len(secret) < MIN_API_KEY_LENGTH:
            raise ConfigError(f"{path}: partners.{partner_id}: API keys need at least {MIN_API_KEY_LENGTH} characters")


def load_partners(cfg: IngestConfig) -> PartnerDirectory:
    """Validate partners.yaml and resolve every enabled partner's secret; ConfigError names file and key."""
    path = cfg.partners_file.resolve()
    parsed = _parse(path)
    demo = _demo_secrets(cfg)
    partners: list[Partner] = []
    for partner_id, spec in parsed.partners.items():
        if not spec.enabled:
            continue
        secrets = _secrets_for(partner_id, cfg, demo, path)
        _check_secrets(partner_id, spec.signature, secrets, path)
        partners.append(
            Partner(
                id=partner_id,
                channel=spec.channel,
                format=spec.format,
                scheme=spec.signature,
                rate_limit=spec.rate_limit or parsed.defaults.rate_limit,
                max_body_bytes=spec.max_body_bytes or parsed.defaults.max_body_bytes,
                tolerance_s=spec.timestamp_tolerance_s or parsed.defaults.timestamp_tolerance_s,
                secrets=secrets,
            )
        )
    return PartnerDirectory.build(path, partners)
