"""Helpers for the deployment tests: chart rendering, env names the code reads, script loading."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "deploy" / "helm" / "logistics-backbone"
CRD_SCHEMAS = ROOT / "deploy" / "helm" / "crd-schemas"
VALUES_SETS = {
    "default": None,
    "all-enabled": CHART / "ci" / "all-enabled-values.yaml",
    "tls": CHART / "ci" / "tls-values.yaml",
}
RELEASE, NAMESPACE = "backbone", "logistics"
FULLNAME = f"{RELEASE}-logistics-backbone"

# component label -> (values key, otel/service name, consumer group or None, expected health port)
COMPONENTS: dict[str, tuple[str, str, str | None, int]] = {
    "ingest": ("ingest", "ingest", None, 8080),
    "status-normalizer": ("statusNormalizer", "status_normalizer", "status_normalizer", 6066),
    "odoo-sink": ("odooSink", "odoo_sink", "odoo_sink", 8081),
    "wms-bridge": ("wmsBridge", "wms_bridge", "wms_bridge", 8081),
    "carrier-bridge": ("carrierBridge", "carrier_bridge", "carrier_bridge", 8081),
}


def load_script(name: str) -> ModuleType:
    """Import scripts/<name>.py (scripts/ is not a package)."""
    path = ROOT / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_scripts_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class HelmTools:
    helm: str
    kubeconform: str
    schemas: str
    kube_version: str

    def template(self, values: Path | None = None, *sets: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        args = [
            self.helm,
            "template",
            RELEASE,
            str(CHART),
            "--namespace",
            NAMESPACE,
            "--kube-version",
            self.kube_version,
        ]
        if values is not None:
            args += ["-f", str(values)]
        for item in sets:
            args += ["--set", item]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
        if check and proc.returncode != 0:
            raise AssertionError(f"helm template failed:\n{proc.stderr}")
        return proc

    def render(self, values: Path | None = None, *sets: str) -> list[dict[str, Any]]:
        return [doc for doc in yaml.safe_load_all(self.template(values, *sets).stdout) if doc]


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def merged_values(values: Path | None) -> dict[str, Any]:
    base: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return deep_merge(base, yaml.safe_load(values.read_text())) if values else base


def workloads(docs: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    yield from (d for d in docs if d["kind"] in {"Deployment", "StatefulSet", "Job"})


def containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    spec = workload["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def component(doc: dict[str, Any]) -> str | None:
    labels: dict[str, str] = doc["metadata"].get("labels", {})
    return labels.get("app.kubernetes.io/component")


# ---- environment variable names the code reads ----

_STANDARD = {"KAFKA_BOOTSTRAP_SERVERS", "SCHEMA_REGISTRY_URL", "DATABASE_URL"}
_ENV_NAME = re.compile(r"(?:BACKBONE|OTEL)_[A-Z0-9_]*[A-Z0-9]")
# Which service's settings module declares a variable, by prefix (longest first).
SERVICE_PREFIXES = (
    ("BACKBONE_ODOO_SINK_", "services.odoo_sink.config"),
    ("BACKBONE_ODOO_", "services.odoo_sink.config"),
    ("BACKBONE_WMS_", "services.wms_bridge.config"),
    ("BACKBONE_CARRIER_", "services.carrier_bridge.config"),
    ("BACKBONE_INGEST_", "services.ingest.config"),
    ("BACKBONE_PARTNER_", "services.ingest.config"),
    ("BACKBONE_NORMALIZER_", "services.status_normalizer.config"),
)


def settings_env_names(cls: type[BaseSettings]) -> set[str]:
    """Env variables a pydantic-settings class reads: prefix + field, or its validation aliases."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    names: set[str] = set()
    for name, info in cls.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {c.upper() for c in alias.choices if isinstance(c, str)}
        elif isinstance(alias, str):
            names.add(alias.upper())
        else:
            names.add(f"{prefix}{name}".upper())
        annotation = info.annotation
        if inspect.isclass(annotation) and issubclass(annotation, BaseSettings):
            names |= settings_env_names(annotation)
    return names


def _settings_classes(module: ModuleType) -> list[type[BaseSettings]]:
    return [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj) and issubclass(obj, BaseSettings) and obj.__module__ == module.__name__
    ]


def _literal_env_reads() -> set[str]:
    """Names the code reads directly (os.environ / *_VAR constants) rather than through settings."""
    found: set[str] = set()
    for folder in ("backbone", "services", "simulators"):
        for path in (ROOT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and _ENV_NAME.fullmatch(node.value):
                    found.add(node.value)
    return found


def known_env_names() -> tuple[set[str], set[str]]:
    """(names some settings class or the code reads, settings modules that do not exist yet)."""
    from backbone import config, env

    names = set(_STANDARD) | settings_env_names(config.BackboneConfig) | settings_env_names(config.KafkaSecurity)
    names |= {
        v
        for k, v in vars(env).items()
        if k.isupper() and isinstance(v, str) and re.fullmatch(r"[A-Z][A-Z0-9_]*[A-Z0-9]", v)
    }
    names |= _literal_env_reads()
    missing: set[str] = set()
    for module_name in {m for _, m in SERVICE_PREFIXES}:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            missing.add(module_name)
            continue
        for cls in _settings_classes(module):
            names |= settings_env_names(cls)
    return names, missing


def env_problem(name: str, known: set[str], missing_modules: set[str]) -> str | None:
    """Why ``name`` is not a variable the code reads (None when it is); 'pending:' when its
    service's settings module is still being written."""
    from backbone.env import partner_secret_var

    if name in known:
        return None
    if re.fullmatch(r"BACKBONE_PARTNER_[A-Z0-9_]+_SECRET", name):
        partner = name.removeprefix("BACKBONE_PARTNER_").removesuffix("_SECRET").lower().replace("_", "-")
        if partner_secret_var(partner) == name:
            return None
    for prefix, module in SERVICE_PREFIXES:
        if name.startswith(prefix):
            if module in missing_modules:
                return f"pending: {module} does not exist yet, cannot check {name}"
            return f"{name} is not read by any settings class in {module}"
    return f"{name} is not read by backbone.config, backbone.env or any service setting"
