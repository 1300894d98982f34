"""Every overlay and component renders, and every rendered object is valid: Kubernetes' own kinds
against the API's JSON schemas in strict mode (unknown fields are errors) for Kubernetes 1.29 and
1.37 (kubernetes-validate, offline), Karpenter's and KServe's against their CRDs' schemas
(k8s/crds, vendored with their version and source)."""

import copy
import functools
import os

import jsonschema
import kubernetes_validate
import pytest
import yaml
from k8s_support import CLUSTER, COMBINATIONS, K8S, RENDERINGS, read

pytestmark = pytest.mark.xdist_group("k8s")

KUBERNETES_VERSIONS = ["1.29", "1.37"]
CRDS = {  # (group, kind) -> the vendored CRD
    ("karpenter.sh", "NodePool"): "karpenter/karpenter.sh_nodepools.yaml",
    ("karpenter.k8s.aws", "EC2NodeClass"): "karpenter/karpenter.k8s.aws_ec2nodeclasses.yaml",
    ("serving.kserve.io", "InferenceService"): "kserve/serving.kserve.io_inferenceservices.yaml",
}


def test_every_component_is_rendered_somewhere():
    used = {c for components in COMBINATIONS.values() for c in components}
    for name in os.listdir(os.path.join(K8S, "components")):
        assert f"components/{name}" in used, f"components/{name} is in no rendering of tests/k8s/conftest.py"


@pytest.mark.parametrize("name", RENDERINGS + CLUSTER)
def test_renders(render, name):
    objects = render(name)
    assert objects, f"{name} renders nothing"
    kinds = {o["kind"] for o in objects}
    if name in CLUSTER:
        assert kinds == {"NodePool", "EC2NodeClass"}  # the local-config parameters are not emitted
    elif "kserve" in name:
        assert "InferenceService" in kinds and "Deployment" not in kinds
    else:
        assert {"Deployment", "Service", "ServiceAccount", "NetworkPolicy", "PodDisruptionBudget"} <= kinds
    if name not in CLUSTER:  # cluster-wide pieces are never part of a deploy
        assert not kinds & {"NodePool", "EC2NodeClass", "CustomResourceDefinition", "ClusterRole",
                            "ClusterRoleBinding"}, name


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("name", RENDERINGS + CLUSTER)
def test_objects_validate_strictly(render, name, version):
    checked = 0
    for obj in render(name):
        group = obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else ""
        if (group, obj["kind"]) in CRDS:
            continue  # test_custom_resources_validate_against_their_crds
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            pytest.fail(f"{name}: {obj['kind']}/{obj['metadata']['name']} is not valid for Kubernetes {version}: "
                        f"{path}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError as e:
            pytest.fail(f"{name}: {e.message}")
        checked += 1
    assert checked or name in CLUSTER


def _strict(schema: dict) -> dict:
    """A CRD's structural schema as a strict JSON schema, as the API server applies it with
    field validation Strict: unknown fields are errors unless the schema preserves them;
    `nullable` admits null; int-or-string admits both."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if node.get("x-kubernetes-int-or-string"):
                node.pop("type", None)
                node.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
            if node.get("nullable") and "type" in node:
                node["type"] = [node["type"], "null"]
            if (node.get("type") == "object" and "properties" in node and "additionalProperties" not in node
                    and not node.get("x-kubernetes-preserve-unknown-fields")):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


@functools.cache
def _crd_validators(path: str) -> dict:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the KServe CRD is 2 MB
    with open(os.path.join(K8S, "crds", path)) as f:
        crd = next(d for d in yaml.load_all(f, Loader=loader) if d)
    group = crd["spec"]["group"]
    return {f"{group}/{v['name']}": jsonschema.Draft7Validator(_strict(v["schema"]["openAPIV3Schema"]))
            for v in crd["spec"]["versions"] if v.get("served")}


def test_crds_are_vendored_with_their_source():
    for path in CRDS.values():
        with open(os.path.join(K8S, "crds", path)) as f:
            header = f.read(400)
        assert header.startswith("# Vendored, unmodified below this header:") and "commit " in header, path
    readme = read(os.path.join(K8S, "crds", "README.md"))
    for path in CRDS.values():
        assert os.path.basename(path) in readme


@pytest.mark.parametrize("name", [n for n in RENDERINGS if "kserve" in n] + CLUSTER)
def test_custom_resources_validate_against_their_crds(render, name):
    checked = 0
    for obj in render(name):
        group = obj["apiVersion"].split("/")[0]
        if (group, obj["kind"]) not in CRDS:
            continue
        validators = _crd_validators(CRDS[(group, obj["kind"])])
        assert obj["apiVersion"] in validators, f"{obj['apiVersion']} is not served by the vendored CRD"
        errors = sorted(validators[obj["apiVersion"]].iter_errors(obj), key=lambda e: list(e.path))
        assert not errors, f"{name}: {obj['kind']}/{obj['metadata']['name']}: " + "; ".join(
            f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors[:5])
        checked += 1
    assert checked


def test_crd_check_catches_unknown_fields():
    """The strict CRD check is not vacuous: a misspelt field and a wrong type are errors."""
    nodepool = {"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": "x"},
                "spec": {"template": {"spec": {"nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass",
                                                                "name": "x"}, "requirements": [],
                                               "taint": []}}}}
    validator = _crd_validators(CRDS[("karpenter.sh", "NodePool")])["karpenter.sh/v1"]
    assert any("taint" in e.message for e in validator.iter_errors(nodepool))
    isvc = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "metadata": {"name": "x"},
            "spec": {"predictor": {"minReplicas": "two"}}}
    validator = _crd_validators(CRDS[("serving.kserve.io", "InferenceService")])["serving.kserve.io/v1beta1"]
    assert list(validator.iter_errors(isvc))
