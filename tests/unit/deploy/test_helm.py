"""The Helm chart: lint, render, schema validation, and what the rendered manifests promise."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import pytest

from tests.unit.deploy.support import (
    CHART,
    COMPONENTS,
    CRD_SCHEMAS,
    FULLNAME,
    VALUES_SETS,
    HelmTools,
    component,
    containers,
    env_problem,
    known_env_names,
    load_script,
    merged_values,
    workloads,
)

Docs = dict[str, list[dict[str, Any]]]


@pytest.mark.parametrize("values", list(VALUES_SETS))
def test_helm_lint_strict(helm_tools: HelmTools, values: str) -> None:
    args = [helm_tools.helm, "lint", "--strict", "--kube-version", helm_tools.kube_version, str(CHART)]
    if VALUES_SETS[values]:
        args += ["-f", str(VALUES_SETS[values])]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("values", list(VALUES_SETS))
def test_kubeconform_strict_validates_every_resource(helm_tools: HelmTools, values: str) -> None:
    manifest = helm_tools.template(VALUES_SETS[values]).stdout
    proc = subprocess.run(
        [
            helm_tools.kubeconform,
            "-strict",
            "-summary",
            "-output",
            "text",
            "-kubernetes-version",
            helm_tools.kube_version,
            "-schema-location",
            helm_tools.schemas,
            "-schema-location",
            f"{CRD_SCHEMAS}/{{{{.Group}}}}/{{{{.ResourceKind}}}}_{{{{.ResourceAPIVersion}}}}.json",
            "-",
        ],
        input=manifest,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Nothing may be skipped for lack of a schema: every kind the chart renders is validated.
    assert re.search(r"Invalid: 0, Errors: 0, Skipped: 0", proc.stdout), proc.stdout


def test_kubeconform_setup_rejects_what_it_should(helm_tools: HelmTools) -> None:
    """The generated schemas are strict: unknown fields and wrong types fail, for core kinds and CRDs."""
    bad = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: x}
spec:
  replica: 2
  selector: {matchLabels: {a: b}}
  template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c, image: i}]}}
---
apiVersion: kafka.strimzi.io/v1beta2
kind: KafkaTopic
metadata: {name: t}
spec: {partition: 3}
---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: s}
spec: {scaleTargetRef: {name: x}, triggers: [{type: kafka, metadata: {lagThreshold: 5}}]}
"""
    proc = subprocess.run(
        [
            helm_tools.kubeconform,
            "-strict",
            "-summary",
            "-kubernetes-version",
            helm_tools.kube_version,
            "-schema-location",
            helm_tools.schemas,
            "-schema-location",
            f"{CRD_SCHEMAS}/{{{{.Group}}}}/{{{{.ResourceKind}}}}_{{{{.ResourceAPIVersion}}}}.json",
            "-",
        ],
        input=bad,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "Invalid: 3" in proc.stdout, proc.stdout
    for fragment in ("'replica' not allowed", "'partition' not allowed", "lagThreshold"):
        assert fragment in proc.stdout


def test_default_values_render_one_workload_per_service(rendered: Docs) -> None:
    kinds = {(d["kind"], component(d)) for d in rendered["default"]}
    assert ("Deployment", "ingest") in kinds
    assert ("StatefulSet", "status-normalizer") in kinds
    for name in ("odoo-sink", "wms-bridge", "carrier-bridge"):
        assert ("Deployment", name) in kinds
    for name in COMPONENTS:
        assert ("PodDisruptionBudget", name) in kinds
        assert ("NetworkPolicy", name) in kinds
    assert ("Job", "setup") in kinds
    assert not any(d["kind"] == "Secret" for d in rendered["default"]), "the chart never creates credentials"


def test_all_enabled_renders_every_optional_resource(rendered: Docs) -> None:
    kinds = {d["kind"] for d in rendered["all-enabled"]}
    assert {
        "Ingress",
        "HorizontalPodAutoscaler",
        "ScaledObject",
        "TriggerAuthentication",
        "KafkaTopic",
        "KafkaUser",
        "ExternalSecret",
        "PodMonitor",
    } <= kinds


def test_services_can_be_disabled_one_by_one(helm_tools: HelmTools) -> None:
    docs = helm_tools.render(None, "wmsBridge.enabled=false", "ingest.enabled=false")
    components = {component(d) for d in docs}
    assert "wms-bridge" not in components and "ingest" not in components
    assert {"status-normalizer", "odoo-sink", "carrier-bridge"} <= components


@pytest.mark.parametrize("values", list(VALUES_SETS))
def test_probes_hit_the_services_real_health_endpoints(rendered: Docs, values: str) -> None:
    """Liveness /healthz and readiness /readyz on the port the service itself listens on."""
    seen = set()
    for workload in workloads(rendered[values]):
        name = component(workload)
        if name not in COMPONENTS:
            continue
        seen.add(name)
        expected_port = COMPONENTS[name][3]
        (container,) = workload["spec"]["template"]["spec"]["containers"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        env = {e["name"]: e.get("value") for e in container["env"]}
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/healthz")):
            if probe not in container:
                assert probe == "startupProbe", f"{name}: {probe} missing"
                continue
            get = container[probe]["httpGet"]
            assert get["path"] == path, f"{name} {probe}"
            assert ports[get["port"]] == expected_port, f"{name} {probe} port"
        # The service is told to listen where the probes knock.
        port_var = {
            "ingest": "BACKBONE_INGEST_PORT",
            "status-normalizer": "BACKBONE_NORMALIZER_WEB_PORT",
        }.get(name, f"BACKBONE_{name.upper().replace('-', '_')}_HEALTH_PORT")
        assert env[port_var] == str(expected_port), f"{name}: {port_var}"
        if name == "status-normalizer":
            assert env["BACKBONE_NORMALIZER_WEB_HOST"] == "0.0.0.0", "Faust binds 127.0.0.1 by default"
    enabled = {c for c, (key, *_rest) in COMPONENTS.items() if merged_values(VALUES_SETS[values])[key]["enabled"]}
    assert seen == enabled


def test_chart_runs_the_same_commands_as_compose(rendered: Docs) -> None:
    """test_compose.py checks each compose command against the CLI; the chart must use only those."""
    import yaml

    from tests.unit.deploy.support import ROOT

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    compose_commands = {tuple(svc["command"]) for svc in compose.values() if "command" in svc}
    compose_heads = {c[:2] if c[0] in {"topics", "schemas", "sim"} else c[:1] for c in compose_commands}
    for docs in rendered.values():
        for workload in workloads(docs):
            for container in containers(workload):
                args = tuple(container["args"])
                head = args[:2] if args[0] in {"topics", "schemas"} else args[:1]
                assert head in compose_heads, f"chart runs `backbone {' '.join(args)}`, which compose never does"


def test_health_ports_and_routes_match_the_service_code() -> None:
    """The chart's fixed ports are the services' defaults, and their health routes exist."""
    from services.ingest.config import IngestConfig
    from services.status_normalizer.config import NormalizerConfig

    assert IngestConfig.model_fields["port"].default == COMPONENTS["ingest"][3]
    assert NormalizerConfig.model_fields["web_port"].default == COMPONENTS["status-normalizer"][3]
    assert NormalizerConfig.model_fields["app_id"].default == COMPONENTS["status-normalizer"][2]
    from tests.unit.deploy.support import ROOT

    for module in ("services/ingest/app.py", "services/status_normalizer/app.py"):
        source = (ROOT / module).read_text()
        for route in ("/healthz", "/readyz", "/metrics"):
            assert f'"{route}"' in source, f"{module} serves no {route}"


@pytest.mark.parametrize("values", list(VALUES_SETS))
def test_pods_are_hardened(rendered: Docs, values: str) -> None:
    for workload in workloads(rendered[values]):
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod["automountServiceAccountToken"] is False
        for container in containers(workload):
            sc = container["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert any(m["mountPath"] == "/tmp" for m in container["volumeMounts"]), "read-only root needs /tmp"
            assert "resources" in container and container["resources"].get("requests")


@pytest.mark.parametrize("values", list(VALUES_SETS))
def test_labels_names_and_selectors(rendered: Docs, values: str) -> None:
    for doc in rendered[values]:
        meta = doc["metadata"]
        assert len(meta["name"]) <= 63 or doc["kind"] == "KafkaTopic", meta["name"]
        labels = meta.get("labels", {})
        assert labels.get("app.kubernetes.io/part-of") == "logistics-backbone", (doc["kind"], meta["name"])
        assert labels.get("app.kubernetes.io/instance") == "backbone"
        if doc["kind"] in {
            "Deployment",
            "StatefulSet",
            "PodDisruptionBudget",
            "NetworkPolicy",
            "ScaledObject",
            "KafkaUser",
            "Job",
        }:
            assert labels.get("app.kubernetes.io/component"), (doc["kind"], meta["name"])
    for workload in workloads(rendered[values]):
        template_labels = workload["spec"]["template"]["metadata"]["labels"]
        if workload["kind"] != "Job":
            selector = workload["spec"]["selector"]["matchLabels"]
            assert selector.items() <= template_labels.items()
            assert selector["app.kubernetes.io/component"] == component(workload)
    services = [d for d in rendered[values] if d["kind"] == "Service"]
    for service in services:
        assert service["spec"]["selector"]["app.kubernetes.io/component"] == component(service)


def _secret_refs(docs: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    refs: list[tuple[str, str | None]] = []
    for workload in workloads(docs):
        for container in containers(workload):
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    refs.append((ref["name"], ref["key"]))
        for volume in workload["spec"]["template"]["spec"].get("volumes", []):
            if "secret" in volume:
                refs.append((volume["secret"]["secretName"], None))
    for doc in docs:
        if doc["kind"] == "TriggerAuthentication":
            refs += [(r["name"], r["key"]) for r in doc["spec"].get("secretTargetRef", [])]
    return refs


@pytest.mark.parametrize("values", list(VALUES_SETS))
def test_every_secret_reference_is_documented_in_values(rendered: Docs, values: str) -> None:
    """Each Secret name/key a pod reads comes from a documented values key (an `existingSecret`, a
    `*Key`, or the documented `<fullname>-<purpose>` default), or from a rendered KafkaUser."""
    helm_readme = load_script("helm_readme")
    sections, problems = helm_readme.parse((CHART / "values.yaml").read_text())
    assert not problems
    merged = merged_values(VALUES_SETS[values])
    names: set[str] = set()
    keys: set[str] = set()
    purposes = set(re.findall(r"`<fullname>-([a-z-]+)`", (CHART / "values.yaml").read_text()))
    purposes |= set(re.findall(r"`-([a-z-]+)`", (CHART / "values.yaml").read_text()))
    for param in (p for s in sections for p in s.params):
        value = helm_readme._lookup(merged, param.key)
        last = param.key.rsplit(".", 1)[-1]
        if last.lower().endswith("existingsecret") and value:
            names.add(value)
        if last.endswith("Key") and value:
            keys.add(value)
    users = {
        d["metadata"]["name"]: d["spec"]["authentication"]["type"] for d in rendered[values] if d["kind"] == "KafkaUser"
    }
    refs = _secret_refs(rendered[values])
    assert refs
    for name, key in refs:
        if name in users:
            expected = {"password"} if users[name] == "scram-sha-512" else {"user.crt", "user.key"}
            assert key is None or key in expected, (name, key)
            continue
        documented_default = name.startswith(f"{FULLNAME}-") and name.removeprefix(f"{FULLNAME}-") in purposes
        assert name in names or documented_default, f"Secret {name!r} does not come from a documented value"
        assert key is None or key in keys, f"key {key!r} of Secret {name!r} is not a documented *Key value"


@pytest.mark.parametrize("values", list(VALUES_SETS))
def test_no_credential_is_inline(rendered: Docs, values: str) -> None:
    sensitive = re.compile(r"PASSWORD|API_KEY|_SECRET$|DATABASE_URL|SCHEMA_REGISTRY_URL|KAFKA_BOOTSTRAP_SERVERS")
    for workload in workloads(rendered[values]):
        for container in containers(workload):
            for env in container.get("env", []):
                if sensitive.search(env["name"]):
                    assert "valueFrom" in env, f"{env['name']} must come from a Secret"


@pytest.mark.parametrize("values", list(VALUES_SETS))
def test_env_names_match_the_settings_the_code_reads(rendered: Docs, values: str) -> None:
    known, missing = known_env_names()
    problems: set[str] = set()
    for workload in workloads(rendered[values]):
        for container in containers(workload):
            for env in container.get("env", []):
                problem = env_problem(env["name"], known, missing)
                if problem:
                    problems.add(problem)
    wrong = sorted(p for p in problems if not p.startswith("pending:"))
    assert not wrong, "\n".join(wrong)
    if problems:
        pytest.skip("; ".join(sorted(problems)))


def test_normalizer_state_is_on_a_volume(rendered: Docs) -> None:
    (sts,) = [d for d in rendered["default"] if d["kind"] == "StatefulSet"]
    (container,) = sts["spec"]["template"]["spec"]["containers"]
    datadir = next(e["value"] for e in container["env"] if e["name"] == "BACKBONE_NORMALIZER_DATADIR")
    assert {"name": "data", "mountPath": datadir} in container["volumeMounts"]
    assert sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    (sts_tls,) = [d for d in rendered["tls"] if d["kind"] == "StatefulSet"]
    assert "volumeClaimTemplates" not in sts_tls["spec"]
    assert {"name": "data", "emptyDir": {}} in sts_tls["spec"]["template"]["spec"]["volumes"]


def test_setup_hook_registers_schemas_before_the_services(rendered: Docs) -> None:
    (job,) = [d for d in rendered["default"] if d["kind"] == "Job"]
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    assert [c["args"] for c in containers(job)] == [["schemas", "register"]]
    (job_tls,) = [d for d in rendered["tls"] if d["kind"] == "Job"]
    assert [c["args"] for c in containers(job_tls)] == [
        ["topics", "apply", "--replication", "1"],
        ["schemas", "register"],
    ]
    # ExternalSecrets run earlier (lower weight) so their Secrets exist when the Job starts.
    for secret in (d for d in rendered["all-enabled"] if d["kind"] == "ExternalSecret"):
        assert int(secret["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(annotations["helm.sh/hook-weight"])
        # Hooks are re-created on upgrade: an owned Secret would be garbage-collected each time.
        assert secret["spec"]["target"]["creationPolicy"] == "Orphan"


def test_ingest_ingress_tls_and_hpa(rendered: Docs) -> None:
    docs = rendered["all-enabled"]
    (ingress,) = [d for d in docs if d["kind"] == "Ingress"]
    assert ingress["spec"]["tls"] == [{"hosts": ["hooks.example.com"], "secretName": "hooks-example-com-tls"}]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    (service,) = [d for d in docs if d["kind"] == "Service" and component(d) == "ingest"]
    assert backend == {"name": service["metadata"]["name"], "port": {"name": "http"}}
    (hpa,) = [d for d in docs if d["kind"] == "HorizontalPodAutoscaler"]
    assert {m["type"] for m in hpa["spec"]["metrics"]} == {"Resource", "Pods"}


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["ingest.replicaCont=3"], "additional properties 'replicaCont' not allowed"),
        (["kafka.securityProtocol=SASL"], "securityProtocol"),
        (["odooSink.keda.offsetResetPolicy=oldest"], "offsetResetPolicy"),
        (["strimzi.topics.enabled=true", "setup.applyTopics=true"], "enable only one"),
        (["strimzi.users.enabled=true"], "scram-sha-512 needs kafka.securityProtocol"),
        (["kafka.securityProtocol=SASL_SSL"], "kafka.saslMechanism is required"),
        (["odooSink.keda.enabled=true", "odooSink.topics.reads={canonical.nope}"], "canonical.nope"),
        (["statusNormalizer.keda.enabled=true", "statusNormalizer.keda.minReplicaCount=7"], "partition cap"),
    ],
)
def test_bad_values_fail_the_render(helm_tools: HelmTools, sets: list[str], message: str) -> None:
    proc = helm_tools.template(None, *sets, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr


def test_every_service_head_samples_traces_at_the_configured_ratio(helm_tools: HelmTools, rendered: Docs) -> None:
    def sampler_env(docs: Docs) -> set[tuple[str, str]]:
        found = set()
        for workload in workloads(docs):
            for container in containers(workload):
                env = {e["name"]: e.get("value") for e in container.get("env", [])}
                if "OTEL_SERVICE_NAME" in env:  # the services (not the topic/schema setup job)
                    found.add((env.get("OTEL_TRACES_SAMPLER"), env.get("OTEL_TRACES_SAMPLER_ARG")))
        return found

    services = sum(1 for w in workloads(rendered["default"]) for c in containers(w)
                   if any(e["name"] == "OTEL_SERVICE_NAME" for e in c.get("env", [])))
    assert services >= 5
    assert sampler_env(rendered["default"]) == {("parentbased_traceidratio", "0.1")}
    assert sampler_env(helm_tools.render(None, "telemetry.sampleRatio=1")) == {("parentbased_traceidratio", "1")}
