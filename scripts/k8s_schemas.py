"""JSON schemas for kubeconform, built offline.

kubeconform normally downloads its schemas from GitHub (yannh/kubernetes-json-schema), which this
build cannot reach. The same schemas are derived here from sources the Go module proxy serves:

* ``openapi``: Kubernetes' own ``api/openapi-spec/swagger.json`` (module ``k8s.io/kubernetes``)
  -> ``<out>/v<version>-standalone-strict/<kind>-<group>-<version>.json``, the layout kubeconform
  expects for ``-schema-location <out>``. Like upstream's ``openapi2jsonschema --expanded
  --kubernetes --stand-alone --strict``: refs inlined, unknown fields rejected, nullable types,
  int-or-string and quantities accepted as numbers.
* ``crd``: CustomResourceDefinition YAML (KEDA and External Secrets modules, or our minimal
  Strimzi definitions) -> ``<out>/<group>/<kind>_<version>.json`` for
  ``-schema-location '<out>/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json'``.

Usage::

    python scripts/k8s_schemas.py openapi swagger.json v1.33.13 ~/.cache/backbone/k8s-schemas
    python scripts/k8s_schemas.py crd keda.sh_scaledobjects.yaml deploy/helm/crd-schemas
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

JsonObj = dict[str, Any]

_DRAFT = "http://json-schema.org/draft-07/schema#"
_INT_OR_STRING: JsonObj = {"oneOf": [{"type": ["string", "null"]}, {"type": ["integer", "null"]}]}
_QUANTITY: JsonObj = {"oneOf": [{"type": ["string", "null"]}, {"type": ["number", "null"]}]}
_SPECIAL = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": _INT_OR_STRING,
    "io.k8s.apimachinery.pkg.api.resource.Quantity": _QUANTITY,
}
# Dropped: prose, vendor extensions handled below, formats (int32, byte...) kubeconform need not assert.
_DROP = {"description", "format", "example", "externalDocs"}


def _strict(node: Any, nullable: bool) -> Any:
    """Reject unknown fields wherever properties are declared; optionally let any typed value be null."""
    if isinstance(node, list):
        return [_strict(item, nullable) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("x-kubernetes-int-or-string"):
        return dict(_INT_OR_STRING)
    preserve = bool(node.get("x-kubernetes-preserve-unknown-fields"))
    out: JsonObj = {}
    for key, value in node.items():
        if key in _DROP or key.startswith("x-"):
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _strict(sub, nullable) for name, sub in value.items()}
        else:
            out[key] = _strict(value, nullable)
    if "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    if (nullable or node.get("nullable")) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    out.pop("nullable", None)
    return out


def _inline(node: Any, definitions: JsonObj, stack: tuple[str, ...]) -> Any:
    """Replace every ``$ref`` by its definition; a recursive ref (JSONSchemaProps) becomes ``{}``."""
    if isinstance(node, list):
        return [_inline(item, definitions, stack) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        if name in _SPECIAL:
            return dict(_SPECIAL[name])
        if name in stack:
            return {}
        return _inline(definitions[name], definitions, (*stack, name))
    return {key: _inline(value, definitions, stack) for key, value in node.items()}


def _kind_suffix(group: str, version: str) -> str:
    """kubeconform's file name suffix: ``apps/v1`` -> ``-apps-v1``, ``networking.k8s.io/v1`` -> ``-networking-v1``."""
    return f"-{group.split('.')[0]}-{version}" if group else f"-{version}"


def _with_type_enums(schema: JsonObj, api_version: str, kind: str) -> JsonObj:
    props = schema.setdefault("properties", {})
    props["apiVersion"] = {"type": "string", "enum": [api_version]}
    props["kind"] = {"type": "string", "enum": [kind]}
    schema["$schema"] = _DRAFT
    return schema


def openapi_schemas(swagger: JsonObj) -> Iterator[tuple[str, JsonObj]]:
    """(file name, standalone strict schema) for every kind a Kubernetes swagger.json declares."""
    definitions: JsonObj = swagger["definitions"]
    for name, definition in sorted(definitions.items()):
        for gvk in definition.get("x-kubernetes-group-version-kind", []):
            group, version, kind = gvk.get("group", ""), gvk["version"], gvk["kind"]
            api_version = f"{group}/{version}" if group else version
            expanded = _strict(_inline(definition, definitions, (name,)), nullable=True)
            expanded["type"] = "object"
            yield f"{kind.lower()}{_kind_suffix(group, version)}.json", _with_type_enums(expanded, api_version, kind)


def crd_schemas(crd: JsonObj) -> Iterator[tuple[str, JsonObj]]:
    """(relative path, strict schema) for every served version of one CustomResourceDefinition."""
    spec = crd["spec"]
    group, kind = spec["group"], spec["names"]["kind"]
    for version in spec["versions"]:
        source = (version.get("schema") or {}).get("openAPIV3Schema")
        if not source or not version.get("served", True):
            continue
        schema = _strict(source, nullable=False)
        yield (
            f"{group}/{kind.lower()}_{version['name']}.json",
            _with_type_enums(schema, f"{group}/{version['name']}", kind),
        )


def _write(out: Path, relative: str, schema: JsonObj, indent: int | None) -> None:
    target = out / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(schema, indent=indent, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    api = sub.add_parser("openapi", help="Kubernetes swagger.json -> kubeconform standalone-strict schemas")
    api.add_argument("swagger", type=Path)
    api.add_argument("version", help="Kubernetes version the swagger belongs to, e.g. v1.33.13")
    api.add_argument("out", type=Path)
    crd = sub.add_parser("crd", help="CustomResourceDefinition YAML -> <group>/<kind>_<version>.json")
    crd.add_argument("files", type=Path, nargs="+")
    crd.add_argument("--out", type=Path, required=True)
    crd.add_argument("--kinds", default="", help="comma-separated kinds to keep (default: all)")
    args = parser.parse_args(argv)

    count = 0
    if args.command == "openapi":
        folder = f"{args.version if args.version.startswith('v') else 'v' + args.version}-standalone-strict"
        swagger = json.loads(args.swagger.read_text())
        for relative, schema in openapi_schemas(swagger):
            _write(args.out / folder, relative, schema, indent=None)
            count += 1
    else:
        keep = {k.strip() for k in args.kinds.split(",") if k.strip()}
        for path in args.files:
            for doc in yaml.safe_load_all(path.read_text()):
                if not doc or doc.get("kind") != "CustomResourceDefinition":
                    continue
                if keep and doc["spec"]["names"]["kind"] not in keep:
                    continue
                for relative, schema in crd_schemas(doc):
                    _write(args.out, relative, schema, indent=2)
                    count += 1
    print(f"wrote {count} schema(s)", file=sys.stderr)
    return 0 if count else 1


if __name__ == "__main__":
    sys.exit(main())
