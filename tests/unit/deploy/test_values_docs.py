"""values.yaml documentation, the README table generated from it, and values.schema.json."""

from __future__ import annotations

import json
from typing import Any

import yaml

from tests.unit.deploy.support import CHART, load_script

VALUES: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
SCHEMA: dict[str, Any] = json.loads((CHART / "values.schema.json").read_text())


def test_every_value_is_documented_and_every_param_exists() -> None:
    _sections, problems = load_script("helm_readme").parse((CHART / "values.yaml").read_text())
    assert problems == []


def test_readme_parameter_tables_are_up_to_date() -> None:
    helm_readme = load_script("helm_readme")
    sections, _ = helm_readme.parse((CHART / "values.yaml").read_text())
    current = (CHART / "README.md").read_text()
    assert helm_readme.updated_readme(current, helm_readme.render(sections)) == current, (
        "deploy/helm/logistics-backbone/README.md is stale: run `python scripts/helm_readme.py`"
    )


def test_readme_generator_catches_undocumented_and_unknown_keys() -> None:
    helm_readme = load_script("helm_readme")
    text = "## @section S\n## @param a.b First\na:\n  b: 1\n  c: [x]\n## @param zz Nope\n"
    sections, problems = helm_readme.parse(text)
    assert [p.key for p in sections[0].params] == ["a.b"]
    assert any("zz is not a key" in p for p in problems)
    assert any("a.c has no ## @param" in p for p in problems)
    table = helm_readme.render(sections)
    assert "| `a.b` | First | `1` |" in table


def _schema_paths(node: dict[str, Any], prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for key, sub in node.get("properties", {}).items():
        path = f"{prefix}{key}"
        paths.add(path)
        if "properties" in sub:
            paths |= _schema_paths(sub, f"{path}.")
    return paths


def _value_paths(node: dict[str, Any], schema: dict[str, Any], prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for key, value in node.items():
        path = f"{prefix}{key}"
        paths.add(path)
        sub = schema.get("properties", {}).get(key, {})
        if isinstance(value, dict) and "properties" in sub:
            paths |= _value_paths(value, sub, f"{path}.")
    return paths


def test_schema_describes_exactly_the_keys_of_values_yaml() -> None:
    values, schema = _value_paths(VALUES, SCHEMA), _schema_paths(SCHEMA)
    assert values <= schema, f"keys without a schema: {sorted(values - schema)}"
    # Schema-only keys are allowed only inside maps that default to empty (e.g. strimzi.users.quotas).
    for path in sorted(schema - values):
        parent = path.rsplit(".", 1)[0]
        node: Any = VALUES
        for part in parent.split("."):
            node = node[part]
        assert node == {}, f"{path} is in values.schema.json but not in values.yaml"


def _closed_objects(node: dict[str, Any], path: str = "$") -> list[str]:
    """Objects with declared properties that still accept unknown keys (typos would pass)."""
    open_ = []
    if "properties" in node and node.get("additionalProperties") is not False:
        open_.append(path)
    for key, sub in node.get("properties", {}).items():
        open_ += _closed_objects(sub, f"{path}.{key}")
    if isinstance(node.get("items"), dict):
        open_ += _closed_objects(node["items"], f"{path}[]")
    return open_


def test_schema_rejects_unknown_keys_everywhere() -> None:
    assert _closed_objects(SCHEMA) == []
