"""scripts/k8s_schemas.py: kubeconform schemas from Kubernetes' swagger.json and from CRDs."""

from __future__ import annotations

from typing import Any

from tests.unit.deploy.support import load_script

k8s_schemas = load_script("k8s_schemas")

SWAGGER: dict[str, Any] = {
    "definitions": {
        "io.k8s.api.apps.v1.Deployment": {
            "description": "prose",
            "properties": {
                "spec": {"$ref": "#/definitions/io.k8s.api.apps.v1.DeploymentSpec"},
                "metadata": {"type": "object"},
            },
            "x-kubernetes-group-version-kind": [{"group": "apps", "kind": "Deployment", "version": "v1"}],
        },
        "io.k8s.api.apps.v1.DeploymentSpec": {
            "properties": {
                "replicas": {"type": "integer", "format": "int32"},
                "maxSurge": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString"},
                "cpu": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"},
                "self": {"$ref": "#/definitions/io.k8s.api.apps.v1.DeploymentSpec"},
            },
            "required": ["replicas"],
        },
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": "string", "format": "int-or-string"},
        "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string"},
        "io.k8s.api.core.v1.Service": {
            "properties": {},
            "x-kubernetes-group-version-kind": [{"group": "", "kind": "Service", "version": "v1"}],
        },
    }
}


def test_openapi_schemas_use_kubeconform_file_names() -> None:
    names = [name for name, _ in k8s_schemas.openapi_schemas(SWAGGER)]
    assert names == ["deployment-apps-v1.json", "service-v1.json"]


def test_openapi_schemas_are_standalone_and_strict() -> None:
    schema = dict(k8s_schemas.openapi_schemas(SWAGGER))["deployment-apps-v1.json"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["kind"] == {"type": "string", "enum": ["Deployment"]}
    assert schema["properties"]["apiVersion"]["enum"] == ["apps/v1"]
    spec = schema["properties"]["spec"]
    assert "$ref" not in str(schema) and "description" not in schema
    assert spec["additionalProperties"] is False and spec["required"] == ["replicas"]
    assert spec["properties"]["replicas"] == {"type": ["integer", "null"]}
    assert spec["properties"]["maxSurge"]["oneOf"][1] == {"type": ["integer", "null"]}
    assert spec["properties"]["cpu"]["oneOf"][1] == {"type": ["number", "null"]}
    assert spec["properties"]["self"] == {}, "recursion is cut, not infinite"


def test_crd_schemas_are_strict_except_where_fields_are_preserved() -> None:
    crd = {
        "kind": "CustomResourceDefinition",
        "spec": {
            "group": "kafka.strimzi.io",
            "names": {"kind": "KafkaTopic"},
            "versions": [
                {"name": "v1beta1", "served": False, "schema": {"openAPIV3Schema": {"type": "object"}}},
                {
                    "name": "v1beta2",
                    "served": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {
                                        "partitions": {"type": "integer"},
                                        "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                                        "port": {"x-kubernetes-int-or-string": True},
                                        "description": {"type": "string", "nullable": True},
                                    },
                                }
                            },
                        }
                    },
                },
            ],
        },
    }
    ((path, schema),) = list(k8s_schemas.crd_schemas(crd))
    assert path == "kafka.strimzi.io/kafkatopic_v1beta2.json"
    spec = schema["properties"]["spec"]
    assert spec["additionalProperties"] is False
    assert "additionalProperties" not in spec["properties"]["config"]
    assert "oneOf" in spec["properties"]["port"]
    # A property named like a JSON-schema keyword is kept; nullable becomes a null type.
    assert spec["properties"]["description"] == {"type": ["string", "null"]}
