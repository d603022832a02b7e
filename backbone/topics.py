"""topics.yaml, loaded and validated once: the only place topic names exist.

Services ask for a topic by role (``topics().name("raw.carrier-tracking")``), never type a name.

Example::

    catalog = load_topics()
    catalog.name("canonical.shipment-milestones")   # 'canonical.shipment-milestones.v1'
    catalog.by_prefix("raw.")                          # every raw topic spec
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from backbone.config import repo_root
from backbone.errors import ConfigError

__all__ = ["TopicCatalog", "TopicSpec", "load_topics", "parse_duration_ms"]

_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d)$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,200}\.v\d+$")


def parse_duration_ms(value: str | int) -> int:
    """``14d`` -> 1209600000; ``-1`` (infinite) and plain integers pass through as milliseconds."""
    if isinstance(value, int):
        return value
    match = _DURATION.match(value.strip())
    if not match:
        raise ValueError(f"not a duration: {value!r} (use e.g. 500ms, 30s, 15m, 12h, 14d)")
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


class TopicSpec(BaseModel):
    """One topic as declared in topics.yaml."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    role: str
    partitions: int = Field(ge=1, le=1000)
    replication_factor: int | None = Field(default=None, ge=1, le=10)
    min_insync_replicas: int | None = Field(default=None, ge=1, le=10)
    retention: str | int = "7d"
    cleanup_policy: Literal["delete", "compact", "compact,delete"] = "delete"
    compression: Literal["zstd", "lz4", "snappy", "gzip", "producer", "uncompressed"] | None = None
    key: str
    value_schema: str | None
    owner: str
    description: str = ""
    configs: dict[str, str] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _versioned(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("topic names are lower-case and end in a version suffix such as .v1")
        return value

    @field_validator("retention")
    @classmethod
    def _duration(cls, value: str | int) -> str | int:
        parse_duration_ms(value)
        return value

    def kafka_configs(self, defaults: TopicDefaults) -> dict[str, str]:
        """Broker-side topic configs this spec wants (what `topics apply` compares against)."""
        conf = {
            "retention.ms": str(parse_duration_ms(self.retention)),
            "cleanup.policy": self.cleanup_policy,
            "min.insync.replicas": str(self.min_insync_replicas or defaults.min_insync_replicas),
            "compression.type": self.compression or defaults.compression,
        }
        conf.update(self.configs)
        return conf


class TopicDefaults(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    replication_factor: int = Field(default=3, ge=1, le=10)
    min_insync_replicas: int = Field(default=2, ge=1, le=10)
    compression: Literal["zstd", "lz4", "snappy", "gzip", "producer", "uncompressed"] = "zstd"


class _TopicsFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    defaults: TopicDefaults = Field(default_factory=TopicDefaults)
    topics: list[TopicSpec]


@dataclass(frozen=True)
class TopicCatalog:
    """Validated topics.yaml. Look topics up by role; names are data."""

    path: Path
    defaults: TopicDefaults
    specs: tuple[TopicSpec, ...]
    _by_role: dict[str, TopicSpec] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for spec in self.specs:
            self._by_role[spec.role] = spec

    def spec(self, role: str) -> TopicSpec:
        try:
            return self._by_role[role]
        except KeyError:
            raise ConfigError(f"no topic with role {role!r} in {self.path}") from None

    def name(self, role: str) -> str:
        return self.spec(role).name

    def by_prefix(self, prefix: str) -> list[TopicSpec]:
        return [s for s in self.specs if s.role.startswith(prefix)]

    def dlq(self, consumer: str) -> str:
        """Dead letter topic of one consumer (``dlq.<consumer>.v1``)."""
        return self.name(f"dlq.{consumer}")

    def by_name(self, name: str) -> TopicSpec:
        for spec in self.specs:
            if spec.name == name:
                return spec
        raise ConfigError(f"topic {name!r} is not declared in {self.path}")

    def replication(self, spec: TopicSpec, override: int | None = None) -> int:
        return override or spec.replication_factor or self.defaults.replication_factor


def _line_of(text: str, loc: tuple[Any, ...]) -> int | None:
    """Best-effort line number of a validation error location in topics.yaml."""
    if len(loc) >= 2 and loc[0] == "topics" and isinstance(loc[1], int):
        starts = [i + 1 for i, line in enumerate(text.splitlines()) if re.match(r"^\s*-\s+name:", line)]
        if loc[1] < len(starts):
            line = starts[loc[1]]
            if len(loc) >= 3:
                for offset, content in enumerate(text.splitlines()[line - 1 :]):
                    if re.match(rf"^\s*-?\s*{re.escape(str(loc[2]))}\s*:", content):
                        return line + offset
                    if offset > 0 and re.match(r"^\s*-\s+name:", content):
                        break
            return line
    return None


def load_topics(path: Path | None = None) -> TopicCatalog:
    """Parse and validate topics.yaml; a bad file raises ConfigError naming the line and field."""
    path = (path or repo_root() / "topics.yaml").resolve()
    try:
        stamp = path.stat().st_mtime_ns
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    return _load_cached(path, stamp)


@functools.cache
def _load_cached(path: Path, _stamp: int) -> TopicCatalog:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: not valid YAML: {exc}") from exc
    try:
        parsed = _TopicsFile.model_validate(data)
    except ValidationError as exc:
        messages = []
        for err in exc.errors()[:5]:
            loc = tuple(err["loc"])
            line = _line_of(text, loc)
            where = f":{line}" if line else ""
            messages.append(f"{path}{where}: {'.'.join(str(p) for p in loc)}: {err['msg']}")
        raise ConfigError("\n".join(messages)) from exc
    seen_names: set[str] = set()
    seen_roles: set[str] = set()
    for spec in parsed.topics:
        for value, seen, what in ((spec.name, seen_names, "name"), (spec.role, seen_roles, "role")):
            if value in seen:
                raise ConfigError(f"{path}: duplicate topic {what} {value!r}")
            seen.add(value)
    return TopicCatalog(path=path, defaults=parsed.defaults, specs=tuple(parsed.topics))
