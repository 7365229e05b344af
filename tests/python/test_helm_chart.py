"""The fjord-operator Helm chart, rendered and linted by Helm's own engine (helm-python-sdk),
every manifest checked against Kubernetes' schemas (kubernetes-validate), and the examples
checked against the generated CRD schemas.

Run:  python -m venv .venv-helm && .venv-helm/bin/pip install -r tests/python/requirements-helm.txt
      .venv-helm/bin/python -m pytest tests/python/test_helm_chart.py
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import helm_python as helm
import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "fjord-operator"
CRDS = ROOT / "crds"
EXAMPLES = ROOT / "examples"
RELEASE = "fjord"
NAMESPACE = "fjord-system"
# The Kubernetes version the operator is built against (k8s-openapi feature v1_33).
KUBE_VERSION = "1.33.0"

VALUE_FILES = [None] + sorted(p.name for p in (CHART / "ci").glob("*.yaml"))


def load_values(value_file: str | None) -> dict | None:
    if value_file is None:
        return None
    return helm.values_from_yaml((CHART / "ci" / value_file).read_text())


def render(values: dict | None = None) -> list[dict]:
    """Every object the chart renders (templates only; CRDs come from crds/)."""
    manifests = helm.Chart.load(CHART).render(values, name=RELEASE, namespace=NAMESPACE)
    objects = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


def by_kind(objects: list[dict], kind: str) -> list[dict]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[dict], kind: str) -> dict:
    found = by_kind(objects, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def container(objects: list[dict]) -> dict:
    return one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]


# --- Helm's own checks -------------------------------------------------------------------


@pytest.mark.parametrize("value_file", VALUE_FILES)
def test_chart_lints_clean_in_strict_mode(value_file):
    report = helm.lint(
        str(CHART),
        load_values(value_file),
        strict=True,
        namespace=NAMESPACE,
        kube_version=f"v{KUBE_VERSION}",
    )
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert report["errors"] == [] and problems == [], report


@pytest.mark.parametrize("value_file", [f for f in VALUE_FILES if f])
def test_ci_value_files_satisfy_the_values_schema(value_file):
    helm.Chart.load(CHART).validate_schema(load_values(value_file))


@pytest.mark.parametrize(
    "bad_values",
    [
        {"replicas": 2},  # a typo of replicaCount
        {"logFormat": "xml"},
        {"metrics": {"port": 80}},
        {"watchNamespaces": ["Not_A_Namespace"]},
        {"image": {"pullPolicy": "Sometimes"}},
    ],
)
def test_values_schema_refuses_mistakes(bad_values):
    with pytest.raises(helm.HelmError):
        helm.Chart.load(CHART).validate_schema(bad_values)


def test_every_value_is_documented_where_it_is_defined():
    """Each key in values.yaml has a comment right above it or above an enclosing key."""
    undocumented = []
    stack: list[tuple[int, bool]] = []  # (indent, documented) of enclosing keys
    previous = ""
    for line in (CHART / "values.yaml").read_text().splitlines():
        stripped = line.strip()
        match = re.match(r"^(\s*)([A-Za-z][\w.-]*):", line)
        if match and not stripped.startswith("-"):
            indent = len(match.group(1))
            while stack and stack[-1][0] >= indent:
                stack.pop()
            documented = previous.startswith("#") or any(d for _, d in stack)
            rest = line.split(":", 1)[1].strip()
            is_parent = rest == ""
            if not documented and not is_parent:
                undocumented.append(stripped)
            stack.append((indent, previous.startswith("#") or any(d for _, d in stack)))
        if stripped:
            previous = stripped
    assert undocumented == []


# --- Kubernetes' schemas -----------------------------------------------------------------


@pytest.mark.parametrize("value_file", VALUE_FILES)
def test_rendered_manifests_are_valid_kubernetes_objects(value_file):
    objects = render(load_values(value_file))
    assert objects
    for obj in objects:
        if obj["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # not a Kubernetes API; checked in test_service_monitor_*
        kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)


def test_chart_crds_are_valid_custom_resource_definitions():
    crds = helm.Chart.load(CHART).crds
    assert sorted(Path(c["filename"]).name for c in crds) == [
        "fjord.dev_clusters.yaml",
        "fjord.dev_topics.yaml",
    ]
    for crd in crds:
        for doc in yaml.safe_load_all(crd["data"]):
            if doc:
                kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)


def test_chart_crds_are_exact_copies_of_the_generated_ones():
    generated = {p.name: p.read_text() for p in CRDS.glob("*.yaml")}
    copies = {p.name: p.read_text() for p in (CHART / "crds").glob("*.yaml")}
    assert generated, "crds/*.yaml missing: run `cargo run -p fjord-crds --bin crdgen`"
    assert sorted(copies) == sorted(generated)
    for name, text in generated.items():
        assert copies[name] == text, (
            f"helm/fjord-operator/crds/{name} differs from crds/{name}; "
            f"copy it: cp crds/*.yaml helm/fjord-operator/crds/"
        )


# --- What the chart renders --------------------------------------------------------------


def test_defaults_watch_every_namespace_with_a_cluster_role():
    objects = render()
    assert len(by_kind(objects, "ClusterRole")) == 1
    assert len(by_kind(objects, "ClusterRoleBinding")) == 1
    args = container(objects)["args"]
    assert not [a for a in args if a.startswith("--namespace")]
    assert f"--lease-name={RELEASE}-fjord-operator" in args
    assert "--no-leader-election" not in args
    assert "--log-format=text" in args
    assert by_kind(objects, "ServiceMonitor") == []


def test_watched_namespaces_get_roles_and_nothing_cluster_wide():
    values = load_values("namespaced-servicemonitor-values.yaml")
    objects = render(values)
    assert by_kind(objects, "ClusterRole") == []
    assert by_kind(objects, "ClusterRoleBinding") == []
    managed = {
        o["metadata"]["namespace"]
        for o in by_kind(objects, "Role")
        if not o["metadata"]["name"].endswith("-leader-election")
    }
    assert managed == set(values["watchNamespaces"])
    bound = {o["metadata"]["namespace"] for o in by_kind(objects, "RoleBinding")}
    assert bound == set(values["watchNamespaces"]) | {NAMESPACE}
    args = container(objects)["args"]
    assert [a for a in args if a.startswith("--namespace=")] == [
        f"--namespace={ns}" for ns in values["watchNamespaces"]
    ]


def test_rbac_grants_only_what_the_operator_uses():
    objects = render()
    rules = one(objects, "ClusterRole")["rules"]
    granted = {}
    for rule in rules:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    for (group, resource), verbs in granted.items():
        assert "*" not in verbs and group != "*" and resource != "*"
    assert ("", "secrets") not in granted
    assert granted[("", "pods")] == {"get", "list", "watch", "delete"}
    assert granted[("fjord.dev", "clusters/finalizers")] == {"update"}
    assert granted[("fjord.dev", "topics/status")] == {"get", "patch", "update"}
    assert "delete" not in granted[("apps", "statefulsets")]
    assert ("coordination.k8s.io", "leases") not in granted  # namespaced Role only
    assert ("monitoring.coreos.com", "servicemonitors") in granted

    lease_role = next(
        o for o in by_kind(objects, "Role") if o["metadata"]["name"].endswith("-leader-election")
    )
    assert lease_role["metadata"]["namespace"] == NAMESPACE
    named = [r for r in lease_role["rules"] if r.get("resourceNames")]
    assert named[0]["resourceNames"] == [f"{RELEASE}-fjord-operator"]


def test_service_monitor_rbac_can_be_turned_off():
    objects = render({"rbac": {"serviceMonitors": False}})
    groups = {g for r in one(objects, "ClusterRole")["rules"] for g in r["apiGroups"]}
    assert "monitoring.coreos.com" not in groups


def test_service_monitor_scrapes_the_metrics_service():
    objects = render(load_values("namespaced-servicemonitor-values.yaml"))
    monitor = one(objects, "ServiceMonitor")
    service = one(objects, "Service")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    port_names = {p["name"] for p in service["spec"]["ports"]}
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["http-metrics"]
    assert "http-metrics" in port_names
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == [NAMESPACE]


def test_metrics_service_selects_the_operator_pods():
    objects = render()
    service = one(objects, "Service")
    pod = one(objects, "Deployment")["spec"]["template"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert service["spec"]["ports"][0]["targetPort"] in {
        p["name"] for p in pod["spec"]["containers"][0]["ports"]
    }


def test_ha_values_run_two_replicas_with_json_logs():
    objects = render(load_values("ha-json-values.yaml"))
    deployment = one(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    args = container(objects)["args"]
    assert "--log-format=json" in args
    assert f"--lease-namespace={NAMESPACE}" in args
    assert "--no-leader-election" not in args
    assert one(objects, "PodDisruptionBudget")["spec"]["minAvailable"] == 1


def test_a_single_replica_can_run_without_leader_election():
    objects = render({"leaderElection": {"enabled": False}})
    args = container(objects)["args"]
    assert "--no-leader-election" in args
    assert not [a for a in args if a.startswith("--lease")]
    assert not [r for r in by_kind(objects, "Role") if "leader-election" in r["metadata"]["name"]]


def test_leader_election_timings_that_let_two_leaders_overlap_are_refused():
    with pytest.raises(helm.HelmError, match="renewDeadlineSeconds"):
        render({"leaderElection": {"leaseDurationSeconds": 10, "renewDeadlineSeconds": 10}})
    args = container(render())["args"]
    assert "--renew-deadline-seconds=10" in args
    assert "--retry-period-seconds=2" in args


def test_two_replicas_without_leader_election_are_refused():
    with pytest.raises(helm.HelmError, match="leaderElection"):
        render({"replicaCount": 2, "leaderElection": {"enabled": False}})


def test_image_tag_defaults_to_the_app_version():
    chart = helm.Chart.load(CHART)
    app_version = chart.metadata["appVersion"]
    assert container(render())["image"] == f"ghcr.io/fjord/fjord-operator:{app_version}"
    assert container(render({"image": {"tag": "v9"}}))["image"].endswith(":v9")


def test_operator_runs_unprivileged_with_a_read_only_root():
    objects = render()
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    ctx = container(objects)["securityContext"]
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"]["drop"] == ["ALL"]
    assert container(objects)["resources"]["limits"]["memory"]


def test_every_object_carries_the_recommended_labels():
    for obj in render(load_values("ha-json-values.yaml")):
        labels = obj["metadata"]["labels"]
        for key in ("name", "instance", "version", "managed-by", "part-of"):
            assert f"app.kubernetes.io/{key}" in labels, (obj["kind"], key)


# --- Examples against the generated CRD schemas ------------------------------------------


def crd_schemas() -> dict[tuple[str, str], dict]:
    """(apiVersion, kind) -> openAPIV3Schema, from the generated CRDs."""
    schemas = {}
    for path in CRDS.glob("*.yaml"):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd:
                continue
            for version in crd["spec"]["versions"]:
                key = (f"{crd['spec']['group']}/{version['name']}", crd["spec"]["names"]["kind"])
                schemas[key] = version["schema"]["openAPIV3Schema"]
    return schemas


def example_objects() -> list[tuple[str, dict]]:
    objects = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        objects.extend((path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc)
    return objects


def validate_against_crd(obj: dict, schemas: dict) -> None:
    schema = schemas[(obj["apiVersion"], obj["kind"])]
    # metadata is the API server's business; CRD schemas leave it untyped.
    jsonschema.Draft7Validator(schema).validate(
        {k: v for k, v in obj.items() if k != "metadata"}
    )


def test_examples_validate_against_the_generated_crd_schemas():
    schemas = crd_schemas()
    objects = example_objects()
    kinds = {obj["kind"] for _, obj in objects}
    assert kinds == {"Cluster", "Topic"}
    for name, obj in objects:
        assert (obj["apiVersion"], obj["kind"]) in schemas, f"{name}: unknown kind {obj['kind']}"
        validate_against_crd(obj, schemas)


@pytest.mark.parametrize(
    "kind,path,bad",
    [
        ("Topic", ["spec", "partitions"], 0),
        ("Topic", ["spec", "deletionPolicy"], "Orphan"),
        ("Cluster", ["spec", "replicas"], "three"),
        ("Cluster", ["spec", "storage", "retention", "whenDeleted"], "Maybe"),
    ],
)
def test_crd_schema_validation_catches_broken_examples(kind, path, bad):
    """Guards the test above: the schemas do reject a broken object."""
    schemas = crd_schemas()
    obj = copy.deepcopy(next(o for _, o in example_objects() if o["kind"] == kind))
    target = obj
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = bad
    with pytest.raises(jsonschema.ValidationError):
        validate_against_crd(obj, schemas)


def test_example_topics_name_an_example_cluster():
    objects = [o for _, o in example_objects()]
    clusters = {o["metadata"]["name"] for o in objects if o["kind"] == "Cluster"}
    for topic in (o for o in objects if o["kind"] == "Topic"):
        assert topic["spec"]["cluster"] in clusters, topic["metadata"]["name"]
        assert topic["spec"]["replicationFactor"] <= max(
            o["spec"]["replicas"] for o in objects if o["kind"] == "Cluster"
        )


def test_example_broker_config_uses_properties_the_operator_knows():
    source = (CRDS / "src" / "broker_properties.rs").read_text()
    known_block = re.search(r"pub const KNOWN: &\[&str\] = &\[(.*?)\];", source, re.S)
    assert known_block, "crds/src/broker_properties.rs no longer has a KNOWN list"
    known = set(re.findall(r'"([^"]+)"', known_block.group(1)))
    for _, obj in example_objects():
        if obj["kind"] == "Cluster":
            unknown = set(obj["spec"].get("config", {})) - known
            assert unknown == set(), unknown
