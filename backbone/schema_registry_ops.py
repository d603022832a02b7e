"""``backbone schemas check|register``: data contracts evolve BACKWARD-compatibly or the build fails.

``check`` compares every ``schemas/*.avsc`` with its previous version in git (default base: HEAD)
in two independent ways: fastavro schema resolution over generated records (offline, always), and
the schema registry's own compatibility endpoint when a registry URL is given.

Example::

    problems = check_schemas(base="origin/main", registry_url=None)
    ids = register_schemas(SchemaRegistry.connect(url), load_topics())
"""

from __future__ import annotations

import io
import json
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro
from fastavro.utils import generate_many

from backbone.config import repo_root
from backbone.errors import SchemaError
from backbone.serialization import SchemaRegistry, load_schema, schema_dir, subject_for
from backbone.topics import TopicCatalog

__all__ = ["CompatibilityProblem", "backward_problems", "check_schemas", "previous_version", "register_schemas"]


@dataclass(frozen=True)
class CompatibilityProblem:
    schema: str
    reason: str


def previous_version(name: str, base: str = "HEAD") -> dict[str, Any] | None:
    """The schema as committed at ``base``; None for a schema that is new there."""
    rel = (schema_dir() / f"{name}.avsc").relative_to(repo_root())
    proc = subprocess.run(["git", "show", f"{base}:{rel.as_posix()}"], cwd=repo_root(), capture_output=True, text=True)
    if proc.returncode != 0:
        return None
    loaded: dict[str, Any] = json.loads(proc.stdout)
    return loaded


def history(name: str) -> list[str]:
    """Every commit that changed ``schemas/<name>.avsc``, newest first."""
    rel = (schema_dir() / f"{name}.avsc").relative_to(repo_root())
    proc = subprocess.run(
        ["git", "log", "--format=%H", "--", rel.as_posix()], cwd=repo_root(), capture_output=True, text=True
    )
    return proc.stdout.split() if proc.returncode == 0 else []


def backward_problems(old: dict[str, Any], new: dict[str, Any], samples: int = 50) -> list[str]:
    """BACKWARD: a reader on ``new`` must read everything written with ``old``. Proven by writing
    generated ``old`` records and resolving them with ``new`` as the reader schema."""
    try:
        writer = fastavro.parse_schema(old)
        reader = fastavro.parse_schema(new)
    except fastavro.schema.SchemaParseException as exc:
        return [f"schema does not parse: {exc}"]
    problems: list[str] = []
    for record in generate_many(writer, samples):
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, writer, record)
        buf.seek(0)
        try:
            fastavro.schemaless_reader(buf, writer, reader)
        except (fastavro.read.SchemaResolutionError, ValueError, KeyError, TypeError) as exc:
            problems.append(str(exc))
            break
    return problems


def schema_names() -> list[str]:
    return sorted(p.stem for p in schema_dir().glob("*.avsc"))


def check_schemas(
    base: str = "HEAD", registry_url: str | None = None, directory: Path | None = None
) -> list[CompatibilityProblem]:
    problems: list[CompatibilityProblem] = []
    registry = SchemaRegistry.connect(registry_url) if registry_url else None
    for name in schema_names() if directory is None else sorted(p.stem for p in directory.glob("*.avsc")):
        try:
            new = load_schema(name, directory)
        except SchemaError as exc:
            problems.append(CompatibilityProblem(name, str(exc)))
            continue
        # base "history" checks against every committed version (BACKWARD_TRANSITIVE).
        bases = history(name) if base == "history" else [base]
        olds = [(b, previous_version(name, b)) for b in bases]
        for rev, previous in olds:
            if previous is not None:
                problems += [
                    CompatibilityProblem(name, f"fastavro vs {rev[:12]}: {p}") for p in backward_problems(previous, new)
                ]
        old = olds[0][1] if olds else None
        if old is None:
            continue
        if registry is not None:
            # A throwaway subject: old registered, then the registry judges new against it.
            subject = f"backbone-compat-check-{name}-{uuid.uuid4().hex[:8]}"
            registry.register(subject, old)
            registry.set_compatibility(subject, "BACKWARD")
            if not registry.is_compatible(subject, new):
                problems.append(CompatibilityProblem(name, "registry: not BACKWARD compatible with " + base))
            _delete_subject(registry, subject)
    return problems


def _delete_subject(registry: SchemaRegistry, subject: str) -> None:
    try:
        registry.client.delete_subject(subject)
        registry.client.delete_subject(subject, permanent=True)
    except Exception:  # cleanup only; a leftover check subject harms nothing
        return


def register_schemas(registry: SchemaRegistry, catalog: TopicCatalog) -> dict[str, int]:
    """Register each topic's value schema under ``<topic>-value`` with BACKWARD compatibility."""
    ids: dict[str, int] = {}
    for spec in catalog.specs:
        if not spec.value_schema:
            continue
        subject = subject_for(spec.name)
        registry.set_compatibility(subject, "BACKWARD")
        ids[subject] = registry.register(subject, load_schema(spec.value_schema))
    return ids
