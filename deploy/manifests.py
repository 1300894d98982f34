"""Render an overlay, find tandem's model servers in it, and pin the model version each serves.

`render` is the one place that runs kustomize (`kustomize build DIR`, or `kubectl kustomize
DIR`, whichever is on PATH, with the load restrictor off: the manifests read serving/'s
configs), so how kustomize runs can be swapped here alone.
"""

import copy
import json
import os
import shutil
import subprocess
import time

import yaml

from deploy import (
    APPLIED_ANNOTATION,
    HISTORY_ANNOTATION,
    MODEL_ANNOTATION,
    OVERLAY_ANNOTATION,
    SERVER_LABEL,
    SOURCE_ANNOTATION,
    VERSION_ANNOTATION,
)
from deploy.errors import RenderError

OVERLAYS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "k8s", "overlays")
LOAD_RESTRICTOR = "--load-restrictor=LoadRestrictionsNone"
HISTORY_LENGTH = 20  # deployed versions kept per server, for rollback
# Kinds another object may need first (the rest keep the overlay's order, after these).
_FIRST = ("Namespace", "CustomResourceDefinition", "ServiceAccount", "Role", "ClusterRole", "RoleBinding",
          "ClusterRoleBinding", "ConfigMap", "Secret", "StorageClass", "PersistentVolume", "PersistentVolumeClaim",
          "Service")


def overlay_dir(name: str, overlays: str = OVERLAYS) -> str:
    """`--overlay NAME`: k8s/overlays/NAME, or a folder holding a kustomization."""
    candidates = [name] if os.sep in name or name.startswith(".") else [os.path.join(overlays, name), name]
    for path in candidates:
        if any(os.path.isfile(os.path.join(path, f)) for f in ("kustomization.yaml", "kustomization.yml",
                                                                  "Kustomization")):
            return os.path.abspath(path)
    known = sorted(os.listdir(overlays)) if os.path.isdir(overlays) else []
    raise RenderError(f"--overlay {name}: no kustomization in {candidates[0]}"
                      + (f" (overlays: {', '.join(known)})" if known else ""))


def kustomize_command(directory: str) -> list[str]:
    # The manifests include the repository's serving/ configs, outside k8s/: kustomize must be let read them.
    if shutil.which("kustomize"):
        return ["kustomize", "build", LOAD_RESTRICTOR, directory]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize", LOAD_RESTRICTOR, directory]
    raise RenderError("cannot render the overlay: neither kustomize nor kubectl is on PATH "
                      "(install either; tandem runs `kustomize build DIR` or `kubectl kustomize DIR`)")


def render(directory: str) -> list[dict]:
    """The objects the kustomization in `directory` renders, in its order."""
    command = kustomize_command(directory)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        raise RenderError(f"`{' '.join(command)}` did not finish in 300s") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise RenderError(f"`{' '.join(command)}` failed: {lines[-1] if lines else f'exit {done.returncode}'}")
    return parse(done.stdout)


def parse(text: str) -> list[dict]:
    """YAML documents -> objects (a `kind: List` contributes its items)."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if d]
    except yaml.YAMLError as error:
        raise RenderError(f"the rendered manifests are not YAML: {error}") from None
    objects = []
    for doc in docs:
        if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
            raise RenderError(f"not a Kubernetes object in the rendered manifests: {str(doc)[:80]}")
        objects += (doc.get("items") or []) if doc["kind"].endswith("List") else [doc]
    return objects


def in_apply_order(objects: list[dict]) -> list[dict]:
    rank = {kind: i for i, kind in enumerate(_FIRST)}
    return sorted(objects, key=lambda o: rank.get(o["kind"], len(_FIRST)))  # stable: the overlay's order


def describe(obj: dict) -> str:
    meta = obj.get("metadata", {})
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj['kind']} {where}{meta.get('name', '?')}"


def server_of(obj: dict) -> str | None:
    """'tf' or 'torch' for a model server's Deployment, else None."""
    if obj.get("kind") != "Deployment":
        return None
    return (obj.get("metadata", {}).get("labels") or {}).get(SERVER_LABEL)


def servers(objects: list[dict]) -> dict[str, dict]:
    """{server: its Deployment} of the rendered objects; each at most once."""
    found = {}
    for obj in objects:
        server = server_of(obj)
        if server is None:
            continue
        if server not in ("tf", "torch"):
            raise RenderError(f"{describe(obj)}: label {SERVER_LABEL}={server}: must be tf or torch")
        if server in found:
            raise RenderError(f"two Deployments labelled {SERVER_LABEL}={server}: "
                              f"{describe(found[server])} and {describe(obj)}")
        found[server] = obj
    return found


def model_source(deployment: dict) -> str:
    source = (deployment.get("metadata", {}).get("annotations") or {}).get(SOURCE_ANNOTATION)
    if not source:
        raise RenderError(f"{describe(deployment)} does not say where its pods read models: "
                          f"annotate it {SOURCE_ANNOTATION}: a path, gs://…, s3://… or file://…")
    return source


def annotations(obj: dict) -> dict:
    return obj.get("metadata", {}).get("annotations") or {}


def history(deployment: dict | None) -> list[dict]:
    """The versions deployed with tandem, oldest first: [{"version": N, "at": ISO time}, …]."""
    try:
        entries = json.loads(annotations(deployment or {}).get(HISTORY_ANNOTATION) or "[]")
    except ValueError:
        return []
    return [e for e in entries if isinstance(e, dict) and isinstance(e.get("version"), int)]


def applied(deployment: dict) -> dict | None:
    """What tandem applied last (the object, without its history), from the live Deployment."""
    try:
        return json.loads(annotations(deployment).get(APPLIED_ANNOTATION) or "null")
    except ValueError:
        return None


def pinned_version(deployment: dict) -> int | None:
    template = deployment.get("spec", {}).get("template", {})
    value = (template.get("metadata", {}).get("annotations") or {}).get(VERSION_ANNOTATION)
    return int(value) if value and str(value).isdigit() else None


def next_history(previous: list[dict], version: int) -> list[dict]:
    """After deploying `version`: the same history if it already runs, else one entry more."""
    if previous and previous[-1]["version"] == version:
        return previous
    entry = {"version": version, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    return (previous + [entry])[-HISTORY_LENGTH:]


def pin(deployment: dict, model_name: str, version: int, source: str, entries: list[dict],
        overlay: str | None = None) -> dict:
    """A copy of a server Deployment that serves `model_name` version `version` from `source`,
    carrying its deploy history and what was applied (for rollback)."""
    obj = copy.deepcopy(deployment)
    meta = obj.setdefault("metadata", {})
    notes = meta.setdefault("annotations", {})
    for key in (HISTORY_ANNOTATION, APPLIED_ANNOTATION):
        notes.pop(key, None)
    notes.update({SOURCE_ANNOTATION: source, VERSION_ANNOTATION: str(version), MODEL_ANNOTATION: model_name})
    if overlay:
        notes[OVERLAY_ANNOTATION] = overlay
    template = obj.setdefault("spec", {}).setdefault("template", {})
    template.setdefault("metadata", {}).setdefault("annotations", {}).update(
        {VERSION_ANNOTATION: str(version), MODEL_ANNOTATION: model_name})
    env = {"TANDEM_MODEL_NAME": model_name, "TANDEM_MODEL_VERSION": str(version), "TANDEM_MODEL_SOURCE": source}
    pod = template.setdefault("spec", {})
    for container in pod.get("initContainers", []) + pod.get("containers", []):
        kept = [e for e in container.get("env", []) if e.get("name") not in env]
        container["env"] = kept + [{"name": k, "value": v} for k, v in env.items()]
    record = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    notes[HISTORY_ANNOTATION] = json.dumps(entries, separators=(",", ":"))
    notes[APPLIED_ANNOTATION] = record
    return obj


def set_namespace(objects: list[dict], namespace: str, namespaced, override: bool) -> list[dict]:
    """Copies with `namespace` on the namespaced objects (namespaced(obj) -> bool): on all of
    them (`override`: --namespace, which also renames the overlay's Namespace, as kustomize's
    `namespace:` does), else on those the overlay left without one."""
    placed = []
    for obj in objects:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        if obj["kind"] == "Namespace":
            if override:
                meta["name"] = namespace
                if any(o["kind"] == "Namespace" and o["metadata"]["name"] == namespace for o in placed):
                    continue
        elif not namespaced(obj):
            meta.pop("namespace", None)
        elif override or not meta.get("namespace"):
            meta["namespace"] = namespace
        placed.append(obj)
    return placed
