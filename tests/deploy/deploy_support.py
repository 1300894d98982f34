"""Helpers for tests/deploy: small manifests of our own, a home with pushed models, a stand-in
`kustomize`, and `tandem` in a process of its own. (The fixtures are in conftest.py.)"""

import os
import subprocess
import sys
import textwrap

from helpers import REPO

MODEL = "big_tipper"  # the taxi dataset's model
V1, V2 = 1700000001, 1700000002

# A stand-in for `kustomize build DIR`: the resources a kustomization lists, concatenated, with its
# `namespace:` set. It stands in only where no real kustomize or kubectl is on PATH (test_render_and_pin
# renders the same fixtures with the real one when there is one).
FAKE_KUSTOMIZE = f"""#!{sys.executable}
import os, sys, yaml
args = [a for a in sys.argv[1:] if not a.startswith("--load-restrictor")]
if args[:1] != ["build"] or len(args) != 2:
    sys.exit("usage: kustomize build [--load-restrictor=…] DIR")
folder = args[1]
with open(os.path.join(folder, "kustomization.yaml")) as f:
    kustomization = yaml.safe_load(f)
docs = []
for resource in kustomization.get("resources", []):
    with open(os.path.join(folder, resource)) as f:
        docs += [d for d in yaml.safe_load_all(f) if d]
for doc in docs:
    if kustomization.get("namespace") and doc["kind"] != "Namespace":
        doc.setdefault("metadata", {{}})["namespace"] = kustomization["namespace"]
sys.stdout.write(yaml.safe_dump_all(docs, sort_keys=False))
"""

SERVER = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: tandem-{server}
  labels: {{app: tandem-{server}, tandem.dev/server: {server}}}
  annotations: {{tandem.dev/model-source: "{source}"}}
spec:
  replicas: 1
  selector:
    matchLabels: {{app: tandem-{server}}}
  template:
    metadata:
      labels: {{app: tandem-{server}}}
    spec:
      initContainers:
      - name: fetch-model
        image: busybox:1.36
        command: [sh, -c, 'test -e /models-source/{server}/$TANDEM_MODEL_NAME/$TANDEM_MODEL_VERSION.complete']
      containers:
      - name: server
        image: {image}
        ports: [{{containerPort: {port}}}]
---
apiVersion: v1
kind: Service
metadata:
  name: tandem-{server}
spec:
  type: {service_type}
  selector: {{app: tandem-{server}}}
  ports:
  - {{name: {port_name}, port: {port}, targetPort: {port}}}
"""


def write_overlay(folder, source: str, namespace: str | None = None, service_type: str = "ClusterIP",
                  namespace_object: bool = False) -> str:
    """Small manifests of our own: a ConfigMap, and per server a Deployment and its Service (and
    the Namespace itself, if asked)."""
    os.makedirs(folder, exist_ok=True)
    resources = ["config.yaml", "tf.yaml", "torch.yaml"]
    if namespace_object:
        with open(os.path.join(folder, "namespace.yaml"), "w") as f:
            f.write(f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {namespace}}}\n")
        resources.insert(0, "namespace.yaml")
    servers = {"tf": ("tensorflow/serving:2.19.1", 8501, "rest"), "torch": ("pytorch/torchserve:0.12.0-cpu", 8080,
                                                                              "inference")}
    for server, (image, port, port_name) in servers.items():
        with open(os.path.join(folder, f"{server}.yaml"), "w") as f:
            f.write(SERVER.format(server=server, source=source, image=image, port=port, port_name=port_name,
                                  service_type=service_type))
    with open(os.path.join(folder, "config.yaml"), "w") as f:
        f.write("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: tandem-settings}\ndata: {log_level: info}\n")
    with open(os.path.join(folder, "kustomization.yaml"), "w") as f:
        f.write(textwrap.dedent(f"""\
            apiVersion: kustomize.config.k8s.io/v1beta1
            kind: Kustomization
            {'namespace: ' + namespace if namespace else ''}
            resources: [{', '.join(resources)}]
            """))
    return str(folder)


def push(home, version: int, servers=("tf", "torch")) -> None:
    """What the pushers leave in a home: a SavedModel folder, a .mar archive (contents made up)."""
    if "tf" in servers:
        folder = os.path.join(home, "serving", "keras", MODEL, str(version))
        os.makedirs(os.path.join(folder, "variables"), exist_ok=True)
        with open(os.path.join(folder, "saved_model.pb"), "wb") as f:
            f.write(f"graph {version}".encode())
        with open(os.path.join(folder, "variables", "variables.index"), "wb") as f:
            f.write(f"weights {version}".encode())
    if "torch" in servers:
        store = os.path.join(home, "serving", "torch", "model_store")
        os.makedirs(store, exist_ok=True)
        with open(os.path.join(store, f"{MODEL}-{version}.mar"), "wb") as f:
            f.write(f"archive {version}".encode())


def tandem(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """`tandem …` in a process of its own, with this process's environment (KUBECONFIG, PATH)."""
    return subprocess.run([sys.executable, "-m", "tandem.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})
