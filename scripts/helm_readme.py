"""The chart README's parameter tables, generated from ``## @section`` / ``## @param`` comments in
values.yaml (the convention of Bitnami's readme-generator-for-helm, which needs Node; this does the
part the chart uses with the standard library and PyYAML).

    ## @section Ingest parameters          -> "### Ingest parameters" and a new table
    ## free text right after a section     -> the section's description
    ## @param ingest.replicaCount Replicas -> one row: name, description, default from values.yaml
    ## @param x.y [object] ...             -> modifiers: object, array, string, nullable

Every leaf of values.yaml must be documented and every @param must exist, so the README and the
schema cannot silently fall behind.

Usage::

    python scripts/helm_readme.py            # rewrite README.md between the parameter markers
    python scripts/helm_readme.py --check    # exit 1 when README.md is stale or a key is undocumented
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parent.parent / "deploy" / "helm" / "logistics-backbone"
START, END = "<!-- parameters:start -->", "<!-- parameters:end -->"
_PARAM = re.compile(r"^\s*## @param\s+(?P<key>[\w.-]+)\s+(?:\[(?P<mods>[\w, ]+)\]\s+)?(?P<desc>.*)$")
_SECTION = re.compile(r"^\s*## @section\s+(?P<title>.+)$")
_TEXT = re.compile(r"^\s*## (?!@)(?P<text>.*)$")
_MODIFIERS = {"object", "array", "string", "nullable"}


@dataclass
class Param:
    key: str
    description: str
    modifiers: frozenset[str]
    value: Any = None


@dataclass
class Section:
    title: str
    description: list[str] = field(default_factory=list)
    params: list[Param] = field(default_factory=list)


_MISSING = object()


def _lookup(values: Any, key: str) -> Any:
    node = values
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def parse(text: str) -> tuple[list[Section], list[str]]:
    """Sections with their params (defaults filled in) and the problems found."""
    values = yaml.safe_load(text) or {}
    sections: list[Section] = []
    problems: list[str] = []
    in_header = False
    for number, line in enumerate(text.splitlines(), 1):
        if match := _SECTION.match(line):
            sections.append(Section(match["title"].strip()))
            in_header = True
        elif match := _PARAM.match(line):
            in_header = False
            if not sections:
                problems.append(f"values.yaml:{number}: @param before any @section")
                continue
            mods = frozenset(m.strip() for m in (match["mods"] or "").split(",") if m.strip())
            if unknown := mods - _MODIFIERS:
                problems.append(f"values.yaml:{number}: unknown modifier(s) {sorted(unknown)}")
            value = _lookup(values, match["key"])
            if value is _MISSING:
                problems.append(f"values.yaml:{number}: @param {match['key']} is not a key of values.yaml")
                continue
            sections[-1].params.append(Param(match["key"], match["desc"].strip(), mods, value))
        elif in_header and (match := _TEXT.match(line)):
            sections[-1].description.append(match["text"].strip())
        elif line.strip():
            in_header = False
    documented = {p.key for s in sections for p in s.params}
    for key in _leaves(values, documented):
        problems.append(f"values.yaml: {key} has no ## @param line")
    seen: set[str] = set()
    for key in (p.key for s in sections for p in s.params):
        if key in seen:
            problems.append(f"values.yaml: @param {key} is documented twice")
        seen.add(key)
    return sections, problems


def _leaves(node: Any, documented: set[str], prefix: str = "") -> list[str]:
    """Keys that need a @param: scalars, lists, and maps not documented as a whole."""
    missing: list[str] = []
    for key, value in node.items():
        path = f"{prefix}{key}"
        if path in documented:
            continue
        if isinstance(value, dict) and value:
            missing.extend(_leaves(value, documented, f"{path}."))
        else:
            missing.append(path)
    return missing


def _cell(param: Param) -> str:
    value = param.value
    if value is None:
        return "`nil`"
    if isinstance(value, str):
        return f"`{value}`" if value else '`""`'
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, int | float):
        return f"`{value}`"
    rendered = json.dumps(value, separators=(", ", ": "))
    if len(rendered) > 60:
        return "see values.yaml"
    return f"`{rendered}`"


def render(sections: list[Section]) -> str:
    out: list[str] = []
    for section in sections:
        out.append(f"### {section.title}\n")
        if section.description:
            out.append(" ".join(section.description) + "\n")
        out.append("| Name | Description | Value |")
        out.append("| ---- | ----------- | ----- |")
        for p in section.params:
            description = p.description.replace("|", "\\|")
            out.append(f"| `{p.key}` | {description} | {_cell(p)} |")
        out.append("")
    return "\n".join(out)


def updated_readme(readme: str, table: str) -> str:
    if START not in readme or END not in readme:
        raise SystemExit(f"README.md lacks the {START} / {END} markers")
    head, _, rest = readme.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n\n{table}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chart", type=Path, default=CHART)
    parser.add_argument("--check", action="store_true", help="fail instead of writing")
    args = parser.parse_args(argv)
    sections, problems = parse((args.chart / "values.yaml").read_text())
    for problem in problems:
        print(problem, file=sys.stderr)
    readme_path = args.chart / "README.md"
    current = readme_path.read_text()
    wanted = updated_readme(current, render(sections))
    if args.check:
        if wanted != current:
            print(f"{readme_path} is stale: run python scripts/helm_readme.py", file=sys.stderr)
            return 1
        return 1 if problems else 0
    if wanted != current:
        readme_path.write_text(wanted)
        print(f"{readme_path}: parameters updated", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
