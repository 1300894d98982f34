"""`tandem serve`, `tandem query`, `tandem predict`: the pushed models behind real servers,
and clients for them.

    tandem serve tf [--backend tensorflow_model_server|kserve]   TF Serving's ports: REST 8501, gRPC 8500
    tandem serve torch [--backend torchserve|kserve]             TorchServe's: inference 8080, management 8081
                                                                 (loopback), metrics 8082, gRPC 7070
    tandem serve stop [tf|torch] | tandem serve status
    tandem query tf|torch [--grpc] [--url URL] [--file rows.json | --row k=v ...] [--json]
    tandem predict tf|torch --data CSV --out FILE                in-process batch scoring, no server

A server serves the newest pushed version of the dataset's model (or --version N); a newer
push is served after `tandem serve` again. Servers run in sessions of their own: they
outlive the command, until `tandem serve stop`.
"""

import os
import time

from pipelines.home import hold
from serving import registry
from tandem.exits import OK, UsageError
from tandem.inputs import dataset, writable_home

DEFAULT_PORTS = {  # TF Serving's and TorchServe's own defaults
    "tf": {"rest": 8501, "grpc": 8500},
    "torch": {"inference": 8080, "management": 8081, "metrics": 8082, "grpc": 7070, "grpc_management": 7071},
}
BACKENDS = {"tf": ("tensorflow_model_server", "kserve"), "torch": ("torchserve", "kserve")}


def pushed_versions(home: str, name: str, model_name: str) -> dict[int, str]:
    """{version: path} of what the branch served as `name` pushed for `model_name`."""
    from pipelines.push import TF_SERVING_VERSION, mar_pattern, versions

    if name == "tf":
        folder = os.path.join(home, "serving", "keras", model_name)
        return {v: os.path.join(folder, n) for v, n in versions(folder, TF_SERVING_VERSION).items()}
    folder = os.path.join(home, "serving", "torch", "model_store")
    return {v: os.path.join(folder, n) for v, n in versions(folder, mar_pattern(model_name)).items()}


def _chosen_version(args, home: str) -> tuple[int, str]:
    model_name = dataset(args).model_name
    found = pushed_versions(home, args.target, model_name)
    if not found:
        branch = "tf" if args.target == "tf" else "torch"
        raise UsageError(f"no {model_name} model of the {args.target} branch is pushed under {home}: "
                         f"run `tandem run {branch}` first")
    if args.version is not None:
        if args.version not in found:
            raise UsageError(f"--version {args.version}: not pushed; pushed versions: "
                             + ", ".join(map(str, sorted(found))))
        return args.version, found[args.version]
    newest = max(found)
    return newest, found[newest]


def _ports(args) -> dict[str, int]:
    ports = dict(DEFAULT_PORTS[args.target])
    for name in ports:
        value = getattr(args, f"{name}_port", None)
        if value is not None:
            ports[name] = value
    return ports


def _backend(args) -> str:
    import shutil

    if args.backend:
        if args.backend not in BACKENDS[args.target]:
            raise UsageError(f"--backend {args.backend}: the {args.target} model is served by "
                             + " or ".join(BACKENDS[args.target]))
        if args.backend == "tensorflow_model_server" and not shutil.which("tensorflow_model_server"):
            raise UsageError("--backend tensorflow_model_server: the binary is not on PATH (it is not "
                             "installable here; see the README), so tandem serves the SavedModel with KServe")
        return args.backend
    if args.target == "tf":  # the real binary where it exists, else KServe's V1 server (TF Serving's REST API)
        return "tensorflow_model_server" if shutil.which("tensorflow_model_server") else "kserve"
    return "torchserve"


def serve(args) -> int:
    if args.target == "status":
        return status(args)
    if args.target == "stop":
        return stop(args)
    home = writable_home(args.home)
    with hold(home, f"tandem serve {args.target}", args.wait):
        version, path = _chosen_version(args, home)
        backend, ports = _backend(args), _ports(args)
        registry.stop(home, args.target)  # one server per model: the new one replaces it
        registry.ensure_free(ports)
        workdir = os.path.join(registry.servers_dir(home), args.target)
        os.makedirs(workdir, exist_ok=True)
        print(f"tandem: starting {backend} for the {args.target} model, version {version} ({path})", flush=True)
        start = time.time()
        server = _start(args.target, backend, path, dataset(args).model_name, str(version), workdir, ports)
        registry.record(home, server)
    print(f"tandem: {backend} serves {server.model} version {version} (ready in {time.time() - start:.1f}s)")
    for what, url in server.endpoints.items():
        print(f"  {what:<12} {url}")
    if server.key_file:
        print(f"  keys         {server.key_file} (TorchServe's tokens: random per start, they expire; "
              "`tandem query` reads them from here)")
    grpc = " [--grpc]" if args.target == "tf" and backend == "tensorflow_model_server" else ""
    print(f"  query        tandem query {args.target}{grpc}    stop: tandem serve stop {args.target}")
    return OK


def _start(name: str, backend: str, path: str, model_name: str, version: str, workdir: str,
           ports: dict) -> registry.Server:
    if backend == "torchserve":
        from serving.torchserve.server import start
    elif backend == "kserve":
        from serving.kserve.server import start_tf, start_torch

        start = start_tf if name == "tf" else start_torch
    else:
        from serving.tfserving.server import start
    server = start(model_path=path, model_name=model_name, workdir=workdir, ports=ports)
    server.name, server.version, server.started = name, version, time.time()
    return server


def status(args) -> int:
    servers = registry.running(os.path.abspath(args.home))
    if not servers:
        print("tandem: no server running (start one with `tandem serve tf` or `tandem serve torch`)")
        return OK
    for s in servers:
        up = time.strftime("%H:%M:%S", time.localtime(s.started))
        print(f"tandem: {s.name}: {s.backend} (pid {s.pid}) serves {s.model} version {s.version}, since {up}")
        for what, url in s.endpoints.items():
            print(f"  {what:<12} {url}")
    return OK


def stop(args) -> int:
    stopped = registry.stop(os.path.abspath(args.home), args.server)
    if not stopped:
        print("tandem: no server to stop")
    for s in stopped:
        print(f"tandem: stopped {s.backend} (pid {s.pid}), which served the {s.name} model version {s.version}")
    return OK
