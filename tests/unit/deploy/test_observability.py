"""Alert rules and the Grafana dashboard are valid and refer only to metrics the code exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from backbone.config import repo_root

OBS = repo_root() / "deploy" / "observability"
_DEFINITION = re.compile(r"\b(Counter|Gauge|Histogram|Summary)\(\s*\"([a-zA-Z_:][a-zA-Z0-9_:]*)\"", re.S)
_METRIC_REF = re.compile(r"\b(backbone_[a-z0-9_]+)")


def exported_metrics() -> set[str]:
    """Every series name the code can expose, with prometheus_client's suffixes."""
    names: set[str] = set()
    for path in [*repo_root().glob("backbone/**/*.py"), *repo_root().glob("services/**/*.py")]:
        for kind, name in _DEFINITION.findall(path.read_text()):
            if kind == "Counter":
                base = name.removesuffix("_total")
                names |= {f"{base}_total", f"{base}_created"}
            elif kind in ("Histogram", "Summary"):
                names |= {name, f"{name}_bucket", f"{name}_sum", f"{name}_count", f"{name}_created"}
            else:
                names.add(name)
    return names


def _rules() -> list[dict[str, object]]:
    doc = yaml.safe_load((OBS / "prometheus-rules.yaml").read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_exported_metrics_are_found() -> None:
    names = exported_metrics()
    assert "backbone_sink_applied_total" in names
    assert "backbone_normalizer_latency_seconds_bucket" in names
    assert "backbone_dead_lettered_total" in names


def test_alert_rules_are_complete_and_point_at_runbook_sections() -> None:
    runbook = (repo_root() / "docs" / "runbook.md").read_text()
    anchors = {re.sub(r"[^a-z0-9 -]", "", line[3:].strip().lower()).replace(" ", "-")
               for line in runbook.splitlines() if line.startswith("## ")}
    rules = _rules()
    assert len(rules) >= 10
    for rule in rules:
        assert rule["alert"] and rule["expr"], rule
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}  # type: ignore[index]
        annotations = rule["annotations"]
        assert isinstance(annotations, dict) and annotations["summary"]
        anchor = str(annotations["runbook"]).split("#", 1)[1]
        assert anchor in anchors, f"{rule['alert']}: runbook section #{anchor} does not exist"


@pytest.mark.parametrize("source", ["prometheus-rules.yaml", "grafana-dashboard.json"])
def test_only_exported_metrics_are_referenced(source: str) -> None:
    text = (OBS / source).read_text()
    if source.endswith(".json"):
        doc = json.loads(text)
        exprs = [t["expr"] for p in doc["panels"] for t in p["targets"]]
    else:
        exprs = [str(r["expr"]) for r in _rules()]
    exported = exported_metrics()
    unknown = {name for expr in exprs for name in _METRIC_REF.findall(expr)} - exported
    assert unknown == set(), f"{source} refers to metrics no code exports: {sorted(unknown)}"


def test_the_check_catches_an_unknown_metric(tmp_path: Path) -> None:
    assert "backbone_made_up_total" not in exported_metrics()
    assert _METRIC_REF.findall("rate(backbone_made_up_total[5m])") == ["backbone_made_up_total"]


def test_dashboard_is_valid_grafana_json() -> None:
    doc = json.loads((OBS / "grafana-dashboard.json").read_text())
    assert doc["uid"] and doc["title"]
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids))
    for p in doc["panels"]:
        assert p["datasource"]["uid"] == "${datasource}"
        assert {"x", "y", "w", "h"} <= set(p["gridPos"])
