"""Rendering an overlay (kustomize), finding the servers in it, and pinning a version."""

import json
import os
import shutil

import pytest
from deploy_support import MODEL, V1, V2, write_overlay

from deploy import manifests
from deploy.errors import RenderError

pytestmark = pytest.mark.xdist_group("kubernetes")


def rendered(tmp_path, **kwargs) -> list[dict]:
    return manifests.render(write_overlay(tmp_path / "overlay", "/var/lib/tandem/models", **kwargs))


@pytest.mark.skipif(not (shutil.which("kustomize") or shutil.which("kubectl")),
                    reason="neither kustomize nor kubectl is on PATH: the real renderer cannot run here")
def test_the_real_kustomize_renders_our_fixtures(tmp_path):
    objects = rendered(tmp_path, namespace="shop")
    assert sorted(manifests.describe(o) for o in objects) == [
        "ConfigMap shop/tandem-settings", "Deployment shop/tandem-tf", "Deployment shop/tandem-torch",
        "Service shop/tandem-tf", "Service shop/tandem-torch"]
    assert set(manifests.servers(objects)) == {"tf", "torch"}


def test_render_runs_kustomize_from_path(tmp_path, kustomize_bin, monkeypatch):
    monkeypatch.setenv("PATH", kustomize_bin)
    assert manifests.kustomize_command("x") == ["kustomize", "build", "--load-restrictor=LoadRestrictionsNone", "x"]
    objects = rendered(tmp_path)
    assert [o["kind"] for o in manifests.in_apply_order(objects)] == [
        "ConfigMap", "Service", "Service", "Deployment", "Deployment"]
    (tmp_path / "overlay" / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    with pytest.raises(RenderError, match=r"`kustomize build .*` failed: FileNotFoundError"):
        manifests.render(str(tmp_path / "overlay"))


def test_no_renderer_on_path(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RenderError, match="neither kustomize nor kubectl is on PATH"):
        manifests.render(str(tmp_path))


def test_overlay_names_and_folders(tmp_path):
    folder = write_overlay(tmp_path / "overlays" / "local", "/m")
    assert manifests.overlay_dir("local", overlays=str(tmp_path / "overlays")) == folder
    assert manifests.overlay_dir(folder) == folder
    with pytest.raises(RenderError, match=r"--overlay gke-gpu: no kustomization in .*gke-gpu \(overlays: local\)"):
        manifests.overlay_dir("gke-gpu", overlays=str(tmp_path / "overlays"))


def test_parse_and_server_checks():
    docs = manifests.parse("kind: List\napiVersion: v1\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: "
                           "{name: a}}\n---\n{apiVersion: v1, kind: Secret, metadata: {name: b}}\n")
    assert [d["kind"] for d in docs] == ["ConfigMap", "Secret"]
    with pytest.raises(RenderError, match="not a Kubernetes object"):
        manifests.parse("just: text\n")
    server = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a", "labels": {
        "tandem.dev/server": "tf"}}}
    with pytest.raises(RenderError, match="two Deployments labelled tandem.dev/server=tf"):
        manifests.servers([server, {**server, "metadata": {**server["metadata"], "name": "b"}}])
    with pytest.raises(RenderError, match="does not say where its pods read models: annotate it "
                                          "tandem.dev/model-source"):
        manifests.model_source(server)


def test_pin_sets_the_version_everywhere_the_pods_read_it(tmp_path, kustomize_bin, monkeypatch):
    monkeypatch.setenv("PATH", kustomize_bin)
    tf = manifests.servers(rendered(tmp_path))["tf"]
    tf["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "TANDEM_MODEL_VERSION", "value": "1"},
                                                              {"name": "KEEP", "value": "me"}]
    entries = manifests.next_history([], V1)
    first = manifests.pin(tf, MODEL, V1, "/src", entries, overlay="local")
    assert manifests.pinned_version(first) == V1
    container = first["spec"]["template"]["spec"]["containers"][0]
    assert container["env"] == [{"name": "KEEP", "value": "me"}, {"name": "TANDEM_MODEL_NAME", "value": MODEL},
                                {"name": "TANDEM_MODEL_VERSION", "value": str(V1)},
                                {"name": "TANDEM_MODEL_SOURCE", "value": "/src"}]
    assert manifests.history(first) == entries
    applied = manifests.applied(first)
    assert "tandem.dev/history" not in applied["metadata"]["annotations"]
    # re-pinning what was applied (a rollback) gives the same object but for the version
    second = manifests.pin(applied, MODEL, V2, "/src", manifests.next_history(entries, V2), overlay="local")
    assert manifests.pinned_version(second) == V2
    assert json.loads(second["metadata"]["annotations"]["tandem.dev/history"])[-1]["version"] == V2
    strip = ("tandem.dev/model-version", "tandem.dev/history", "tandem.dev/applied")
    for obj in (first, second):
        for key in strip:
            obj["metadata"]["annotations"].pop(key)
        obj["spec"]["template"]["metadata"]["annotations"].pop("tandem.dev/model-version")
        for c in obj["spec"]["template"]["spec"]["initContainers"] + obj["spec"]["template"]["spec"]["containers"]:
            c["env"] = [e for e in c["env"] if e["name"] != "TANDEM_MODEL_VERSION"]
    assert first == second
    both = manifests.next_history(entries, V2)
    assert manifests.next_history(both, V2) == both  # deployed again: no new entry


def test_namespaces(tmp_path):
    objects = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "own"}},
               {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}},
               {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "c"}}]
    def namespaced(obj):
        return obj["kind"] != "ClusterRole"
    kept = manifests.set_namespace(objects, "ctx", namespaced, override=False)
    assert [o["metadata"].get("namespace") for o in kept] == ["own", "ctx", None]
    forced = manifests.set_namespace(objects, "flag", namespaced, override=True)
    assert [o["metadata"].get("namespace") for o in forced] == ["flag", "flag", None]
    spaces = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in ("x", "y")]
    assert manifests.set_namespace(spaces, "flag", namespaced, override=True) == [  # kustomize's `namespace:`
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "flag"}}]
    assert manifests.set_namespace(spaces, "flag", namespaced, override=False) == spaces
    assert objects[1]["metadata"] == {"name": "b"}  # the originals are untouched


OVERLAYS = sorted(os.listdir(manifests.OVERLAYS)) if os.path.isdir(manifests.OVERLAYS) else []


@pytest.mark.skipif(not OVERLAYS, reason="the repository has no k8s/overlays")
@pytest.mark.skipif(not (shutil.which("kustomize") or shutil.which("kubectl")),
                    reason="neither kustomize nor kubectl is on PATH: the real renderer cannot run here")
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_repository_overlays_keep_the_contract(overlay):
    """k8s/overlays/*: both servers, each saying where its pods read models (deploy/__init__.py)."""
    objects = manifests.render(manifests.overlay_dir(overlay))
    found = manifests.servers(objects)
    assert set(found) == {"tf", "torch"}
    for deployment in found.values():
        source = manifests.model_source(deployment)
        assert source.startswith(("/", "gs://", "s3://", "file:///"))
        assert deployment["spec"]["template"]["spec"].get("initContainers"), "no init container to fetch the model"
