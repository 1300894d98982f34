"""Start TF Serving's own binary, tensorflow_model_server, for the Keras branch's pushed SavedModels.

    start(model_path=<home>/serving/keras/<model>/<version>, model_name=..., workdir=...,
          ports={"rest": 8501, "grpc": 8500})

`tandem serve tf` uses it when `tensorflow_model_server` is on PATH; it is not installable
on tandem's machines (no Debian, PyPI or npm package; TF Serving ships it in its Docker
image, tensorflow/serving, and as Google's APT package tensorflow-model-server), and there
the CLI serves the SavedModel with KServe (serving/kserve) on the same REST API instead.

The binary runs with this folder's three configs, rendered into the server's workdir:

    models.config      the model's base path <home>/serving/keras/<model>; a `specific` version
                       policy: the pinned version (model_path's, the one `tandem serve tf`
                       chose) labelled "stable", and the newest pushed version, "canary"
    batching.config    server-side batching: requests that arrive together join one call
    monitoring.config  Prometheus metrics on the REST port

and answers on its two ports (TF Serving binds every interface):

    REST  http://127.0.0.1:8501/v1/models/<model>/labels/stable:predict   (endpoints["rest"])
          http://127.0.0.1:8501/v1/models/<model>/labels/canary:predict   (endpoints["canary"])
          http://127.0.0.1:8501/v1/models/<model>                          versions and their state
          http://127.0.0.1:8501/monitoring/prometheus/metrics
    gRPC  127.0.0.1:8500, tensorflow.serving.PredictionService (a request without a version
          or label gets the newest loaded version, the canary)

start() returns once every version of the policy is AVAILABLE and a request of the contract
(the SavedModel's assets.extra/contract.json, which TF Serving itself ignores) answered a
probability. As serving/kserve/server.py's: a session of its own, no TANDEM_RUN_ID, its log
in the workdir, and no process left behind when it fails.
"""

import json
import os
import shutil
import string
import subprocess
import urllib.request

from serving import registry
from serving.kserve.server import probe

BINARY = "tensorflow_model_server"
HOST = "127.0.0.1"
CONFIG_DIR = os.path.dirname(os.path.abspath(__file__))
MODELS, BATCHING, MONITORING = "models.config", "batching.config", "monitoring.config"
LOG_FILE = "tensorflow_model_server.log"
START_TIMEOUT = 180.0
METRICS_PATH = "/monitoring/prometheus/metrics"  # monitoring.config's prometheus_config.path
CONTRACT_IN_SAVED_MODEL = os.path.join("assets.extra", "contract.json")


def pushed_versions(base_path: str) -> list[int]:
    """The versions under a base path, as TF Serving sees them: folders named by a number."""
    return sorted(int(n) for n in os.listdir(base_path)
                  if n.isascii() and n.isdigit() and os.path.isdir(os.path.join(base_path, n)))


def _quoted(text: str) -> str:
    """A string for a text-format protobuf, in its double quotes."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def policy(model_path: str) -> tuple[str, int, int]:
    """model_path (<base>/<version>) -> (the base path, the stable version: model_path's, the
    canary: the newest version under the base path)."""
    base_path, version = os.path.split(os.path.abspath(model_path))
    if not (version.isascii() and version.isdigit()):
        raise registry.ServingError(f"{model_path}: TF Serving serves a version folder named by a number, "
                                    "under the model's base path")
    return base_path, int(version), max([int(version), *pushed_versions(base_path)])


def render(model_path: str, model_name: str, workdir: str) -> dict[str, str]:
    """The three configs for serving `model_path` (<base>/<version>) as `model_name`, written
    into `workdir`: {config name: its path there}."""
    base_path, stable, canary = policy(model_path)
    os.makedirs(workdir, exist_ok=True)
    paths = {}
    for name in (MODELS, BATCHING, MONITORING):
        with open(os.path.join(CONFIG_DIR, name)) as f:
            text = f.read()
        if name == MODELS:
            text = string.Template(text).substitute(
                model_name=_quoted(model_name), base_path=_quoted(base_path), stable=stable, canary=canary,
                versions="\n        ".join(f"versions: {v}" for v in sorted({stable, canary})))
        paths[name] = os.path.join(workdir, name)
        with open(paths[name], "w") as f:
            f.write(text)
    return paths


def command(paths: dict[str, str], ports: dict, binary: str = BINARY) -> list[str]:
    """tensorflow_model_server's command line for the rendered configs."""
    return [
        binary,
        f"--port={ports['grpc']}",  # gRPC: TF Serving's PredictionService
        f"--rest_api_port={ports['rest']}",
        f"--model_config_file={paths[MODELS]}",
        # The labels name versions that are not loaded yet when the server starts: allowed only so.
        "--allow_version_labels_for_unavailable_models=true",
        "--enable_batching=true",
        f"--batching_parameters_file={paths[BATCHING]}",
        f"--monitoring_config_file={paths[MONITORING]}",
    ]


def endpoints(model_name: str, ports: dict) -> dict[str, str]:
    base = f"http://{HOST}:{ports['rest']}/v1/models/{model_name}"
    return {"rest": f"{base}/labels/stable:predict", "canary": f"{base}/labels/canary:predict", "health": base,
            "grpc": f"{HOST}:{ports['grpc']}", "metrics": f"http://{HOST}:{ports['rest']}{METRICS_PATH}"}


def _available(url: str, versions: set[int]) -> bool:
    """Every version of the policy is AVAILABLE (GET /v1/models/<model>)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            states = {int(s["version"]): s["state"] for s in json.load(answer).get("model_version_status", [])}
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return all(states.get(v) == "AVAILABLE" for v in versions)


def start(model_path: str, model_name: str, workdir: str, ports: dict, timeout: float = START_TIMEOUT,
          binary: str = BINARY, detach: bool = True) -> registry.Server:
    found = shutil.which(binary)
    if not found:
        raise registry.ServingError(f"{binary} is not on PATH: install TF Serving's model server (its Docker "
                                    "image or APT package), or serve the SavedModel with KServe")
    registry.ensure_free({"rest": ports["rest"], "grpc": ports["grpc"]}, HOST)
    paths = render(model_path, model_name, workdir)
    _, stable, canary = policy(model_path)
    urls = endpoints(model_name, ports)
    log = os.path.join(workdir, LOG_FILE)
    env = registry.server_environment(detach)
    with open(log, "ab") as out:
        process = subprocess.Popen(command(paths, ports, found), stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, env=env, cwd=workdir, start_new_session=True)
    what = f"{binary} for {model_path}"
    try:
        registry.wait_until(lambda: _available(urls["health"], {stable, canary}), timeout, process, what, log)
        contract_file = os.path.join(model_path, CONTRACT_IN_SAVED_MODEL)
        if os.path.exists(contract_file):  # pushed before SavedModels carried their contract: no probe
            with open(contract_file) as f:
                probe(urls["rest"], json.load(f), what, log)
    except BaseException:
        registry.end_process(process)
        raise
    return registry.Server(name="tf", backend=BINARY, pid=process.pid, model=model_name, version=str(stable),
                           endpoints=urls, workdir=workdir)
