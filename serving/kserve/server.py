"""Start a KServe model server for a pushed model, in a process (and session) of its own.

    start_tf(model_path=SAVED_MODEL_DIR, model_name=..., workdir=..., ports={"rest": 8501, ...})
    start_torch(model_path=MAR, model_name=..., workdir=..., ports={"inference": 8080, ...})
    python -m serving.kserve.server tf|torch MODEL_PATH --name NAME --http-port N [--grpc-port N] [--workdir DIR]

Each serves the model on KServe's V1 REST protocol, TF Serving's REST predict API:

    POST http://127.0.0.1:PORT/v1/models/NAME:predict   {"instances": [...]} -> {"predictions": [...]}
    GET  http://127.0.0.1:PORT/v1/models/NAME            ready: 200 {"name": NAME, "ready": true}
    GET  http://127.0.0.1:PORT/metrics                   Prometheus metrics

The tf model's REST is on ports["rest"] (TF Serving's 8501); the torch model's on
ports["inference"] (TorchServe's 8080). KServe also has a gRPC server, but it speaks the
V2 (Open Inference) protocol, not TF Serving's PredictionService nor TorchServe's API, so
it never takes their gRPC ports: it is off unless ports names "grpc_v2", and then it is on
that port and in the endpoints under that name. KServe's uvicorn listens on all interfaces.

start_* return once GET /v1/models/NAME says ready and one request of the contract has
been answered with a probability. The server runs in a session of its own (it outlives the
caller; `tandem serve stop` ends its process group), without the caller's TANDEM_RUN_ID (it
is not one of the run's processes), with its log in <workdir>/kserve.log. A port already
taken, a model that does not load, or a server that is not ready in time: a ServingError
that says which, and no process left behind.

The model itself is serving/kserve/models.py's. This module imports no kserve, TensorFlow
or PyTorch until the server process runs main().
"""

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile

from serving import registry
from serving.contract import CONTRACT_FILE, NUMBER

LOG_FILE = "kserve.log"
HOST = "127.0.0.1"
START_TIMEOUT = 180.0  # seconds: importing TensorFlow on a busy two-core machine takes a while
GRACE = 5  # seconds uvicorn lets requests in flight finish on SIGTERM
SAVED_MODEL_CONTRACT = os.path.join("assets.extra", CONTRACT_FILE)


def start_tf(model_path: str, model_name: str, workdir: str, ports: dict, timeout: float = START_TIMEOUT,
             detach: bool = True) -> registry.Server:
    """The SavedModel folder `model_path` behind KServe, REST on ports["rest"]."""
    contract_file = os.path.join(model_path, SAVED_MODEL_CONTRACT)
    if not os.path.exists(contract_file):
        raise registry.ServingError(f"{contract_file} is missing: the SavedModel carries no request contract "
                                    "(it was pushed before SavedModels carried theirs); push it again")
    with open(contract_file) as f:
        contract = json.load(f)
    return _start("tf", model_path, model_name, workdir, ports["rest"], ports.get("grpc_v2"), contract, timeout,
                  detach)


def start_torch(model_path: str, model_name: str, workdir: str, ports: dict, timeout: float = START_TIMEOUT,
                detach: bool = True) -> registry.Server:
    """The .mar `model_path` behind KServe (unpacked into `workdir`), REST on ports["inference"]."""
    try:
        with zipfile.ZipFile(model_path) as mar:
            contract = json.loads(mar.read(CONTRACT_FILE))
    except (OSError, KeyError, zipfile.BadZipFile, ValueError) as error:
        raise registry.ServingError(f"{model_path}: not a tandem .mar with a {CONTRACT_FILE}: {error}") from None
    return _start("torch", model_path, model_name, workdir, ports["inference"], ports.get("grpc_v2"), contract,
                  timeout, detach)


def command(kind: str, model_path: str, model_name: str, workdir: str, http_port: int,
            grpc_port: int | None = None) -> list[str]:
    """The server process's command line."""
    return ([sys.executable, "-m", "serving.kserve.server", kind, os.path.abspath(model_path),
             "--name", model_name, "--http-port", str(http_port), "--workdir", os.path.abspath(workdir)]
            + (["--grpc-port", str(grpc_port)] if grpc_port else []))


def environment(detach: bool = True) -> dict[str, str]:
    """The caller's environment (less its run id when detached: registry.server_environment),
    with this clone's serving/ importable."""
    env = registry.server_environment(detach)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def endpoints(model_name: str, http_port: int, grpc_port: int | None = None) -> dict[str, str]:
    base = f"http://{HOST}:{http_port}"
    found = {"rest": f"{base}/v1/models/{model_name}:predict", "health": f"{base}/v1/models/{model_name}",
             "metrics": f"{base}/metrics"}
    if grpc_port:
        found["grpc_v2"] = f"{HOST}:{grpc_port}"
    return found


def _start(kind: str, model_path: str, model_name: str, workdir: str, http_port: int, grpc_port: int | None,
           contract: dict, timeout: float, detach: bool = True) -> registry.Server:
    registry.ensure_free({"rest": http_port} | ({"grpc_v2": grpc_port} if grpc_port else {}), HOST)
    os.makedirs(workdir, exist_ok=True)
    log = os.path.join(workdir, LOG_FILE)
    urls = endpoints(model_name, http_port, grpc_port)
    with open(log, "ab") as out:
        process = subprocess.Popen(command(kind, model_path, model_name, workdir, http_port, grpc_port),
                                   stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                   env=environment(detach), cwd=workdir, start_new_session=True)
    what = f"KServe's model server for {model_path}"
    try:
        registry.wait_until(lambda: _ready(urls["health"]), timeout, process, what, log)
        probe(urls["rest"], contract, what, log)
    except BaseException:
        registry.end_process(process)
        raise
    return registry.Server(name=kind, backend="kserve", pid=process.pid, model=model_name, version="",
                           endpoints=urls, workdir=workdir)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status == 200 and json.load(answer).get("ready") is True
    except (OSError, ValueError):  # not listening yet, 503 while not ready, a half-written answer
        return False


def probe(url: str, contract: dict, what: str, log: str) -> None:
    """One request of the contract must answer one probability. Its row: 0 for each number, ""
    (missing) for each string: what every server takes, TF Serving's binary included."""
    row = {name: 0.0 if kind == NUMBER else "" for name, kind in contract["features"].items()}
    request = urllib.request.Request(url, data=json.dumps({"instances": [row]}).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            predictions = json.load(answer).get("predictions")
    except urllib.error.HTTPError as error:
        raise registry.ServingError(f"{what} is up but answered a request of the contract with {error.code}: "
                                    f"{error.read()[:300]!r}; its log: {log}") from None
    except (OSError, ValueError) as error:
        raise registry.ServingError(f"{what} is up but did not answer a request of the contract: {error}; "
                                    f"its log: {log}") from None
    if not (isinstance(predictions, list) and len(predictions) == 1 and 0.0 <= predictions[0] <= 1.0):
        raise registry.ServingError(f"{what} answered a request of the contract with {predictions!r}, not one "
                                    f"probability; its log: {log}")


class NoCloudEvents:
    """ASGI middleware before KServe's app: tandem's servers speak serving/contract.py, not
    CloudEvents. KServe decodes a request that has CloudEvents' ce-* headers, or says it is
    application/cloudevents+json, with the cloudevents library, which answers some malformed
    bodies with a 500 (a body that is not UTF-8 or not JSON, a JSON list), and wraps the
    answer in a CloudEvent. Without those headers, every body is decoded by KServe's orjson
    (a 400 for what is not JSON) or by the contract, and answered as the contract says.
    main() also keeps KServe from unwrapping a JSON body shaped like a structured CloudEvent
    ({"specversion": ..., "data": ...}): the contract refuses its fields, as any server's."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            headers = []
            for name, value in scope["headers"]:  # lower-case names, as ASGI gives them
                if name.startswith(b"ce-"):
                    continue
                if name == b"content-type" and value.split(b";")[0].strip().lower() == b"application/cloudevents+json":
                    value = b"application/json"
                headers.append((name, value))
            scope = dict(scope, headers=headers)
        await self.app(scope, receive, send)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m serving.kserve.server",
                                     description="Serve a tandem model with KServe's model server (V1 REST).")
    parser.add_argument("kind", choices=["tf", "torch"], help="tf: a SavedModel folder; torch: a .mar")
    parser.add_argument("model_path")
    parser.add_argument("--name", required=True, help="the model's name in /v1/models/NAME")
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--grpc-port", type=int, default=None, help="KServe's V2 gRPC server; off if not given")
    parser.add_argument("--workdir", default=".", help="where the .mar is unpacked")
    args = parser.parse_args(argv)
    sys.argv = sys.argv[:1]  # kserve.model_server parses the command line when it is imported

    import kserve
    from fastapi.responses import JSONResponse
    from kserve.logging import logger
    from kserve.model_server import app

    from serving.kserve.models import RequestError, SavedModelServer, TorchScriptServer

    async def contract_error(_, error: RequestError) -> JSONResponse:
        logger.info("request refused (%d): %s", error.status, error)  # a client's error: no traceback
        return JSONResponse(status_code=error.status, content={"error": str(error)})

    app.add_exception_handler(RequestError, contract_error)  # before KServe's InvalidInput -> 400
    app.add_middleware(NoCloudEvents)

    start = time.time()
    if args.kind == "tf":
        model = SavedModelServer(args.name, args.model_path)
    else:
        model = TorchScriptServer(args.name, args.model_path, args.workdir)
    model.load()  # raises on a model that does not load: the process ends, never ready
    logger.info("loaded %s in %.1fs%s", args.model_path, time.time() - start,
                f" on {model.device}" if args.kind == "torch" else "")
    server = kserve.ModelServer(http_port=args.http_port, grpc_port=args.grpc_port or 0,
                                enable_grpc=bool(args.grpc_port), workers=1, grace_period=GRACE)
    server.dataplane.decode_cloudevent = lambda body: (body, {})  # no CloudEvents (NoCloudEvents): the body as sent
    server.start([model])


if __name__ == "__main__":
    main()
