"""A real TorchServe for a tandem .mar, hardened (config.properties beside this file), and the
keys its clients send.

    server = start(model_path=".../model_store/chicago_taxi-3.mar", model_name="chicago_taxi",
                   workdir=".../servers/torch", ports={"inference": 8080, "management": 8081,
                   "metrics": 8082, "grpc": 7070, "grpc_management": 7071})
    keys(server.workdir)  ->  {"inference": "...", "management": "..."}   (Authorization: Bearer KEY)

The server's folder (`workdir`) holds everything of one server, nothing goes to /tmp:
config.properties (this package's file with the lines for this start appended), torchserve.log
(its console), logs/ (TorchServe's own logs), tmp/ (the JVM's and Python's temporary folder:
worker sockets, unpacked archives, the launcher's pid file) and key_file.json (TorchServe's
keys, random per start). The .mar's folder is the model store; `allowed_urls` admits only
archives directly in it.

The server runs in a session of its own, without the caller's TANDEM_RUN_ID, so it outlives
the tandem command that started it. Its recorded pid is a small supervisor that leads the
process group (TorchServe's launcher, its JVM and the Python workers) and stays until the last
of them has exited: `registry.stop` signals the group and waits for that pid, so when it
returns the ports are free again. Standard library only, like all of serving/.
"""

import http.client
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from datetime import UTC, datetime

from serving import registry
from serving.contract import CONTRACT_FILE

CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "config.properties")
PORTS = ("inference", "management", "metrics", "grpc", "grpc_management")
KEY_FILE = "key_file.json"  # TorchServe writes it in its working directory
LOG_FILE = "torchserve.log"
DEFAULT_BATCH_SIZE = 8  # requests per batch, at most
DEFAULT_MAX_BATCH_DELAY_MS = 10  # how long the first request of a batch waits for others
SOCKET_PATH_MAX = 107  # AF_UNIX; a worker's socket is <workdir>/tmp/.ts.sock.<port>

# The process tandem records: it leads the server's process group, and reaps every process of
# it (a child subreaper: the JVM, orphaned when the launcher dies, is re-parented here), so it
# is alive exactly while some part of the server is. A SIGTERM (to it or to its group) goes
# on to the whole group once; then it waits for them all.
_SUPERVISOR = r"""
import ctypes, os, signal, subprocess, sys
try:
    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
except Exception:
    pass
forwarded = []
def forward(signum, frame):
    if not forwarded:
        forwarded.append(signum)
        os.killpg(0, signal.SIGTERM)
signal.signal(signal.SIGTERM, forward)
signal.signal(signal.SIGINT, forward)
launcher = subprocess.Popen(sys.argv[1:])
status = 1
while True:
    try:
        pid, code = os.wait()
    except ChildProcessError:
        break
    if pid == launcher.pid:
        status = os.waitstatus_to_exitcode(code)
sys.exit(status if status >= 0 else 128 - status)
"""


def start(*, model_path: str, model_name: str, workdir: str, ports: dict[str, int], host: str = "127.0.0.1",
          model_api: bool = False, token_auth: bool = True, batch_size: int = DEFAULT_BATCH_SIZE,
          max_batch_delay_ms: int = DEFAULT_MAX_BATCH_DELAY_MS, timeout: float = 120.0,
          detach: bool = True) -> registry.Server:
    """Start TorchServe on the .mar at `model_path` as `model_name`, and return once the model
    has answered a request through the contract. Inference, metrics and gRPC inference listen on
    `host`; management (REST and gRPC) on loopback whatever `host` is. `model_api` and
    `token_auth` exist for tests: production keeps the model API off and the keys on.
    Fails with registry.ServingError (with the tail of the server's log) if the server exits or
    is not ready within `timeout` seconds; it is stopped then."""
    missing = [name for name in PORTS if name not in ports]
    if missing:
        raise registry.ServingError(f"TorchServe needs a port for each of {', '.join(PORTS)}; missing: "
                                    f"{', '.join(missing)}")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", model_name):
        raise registry.ServingError(f"model name {model_name!r}: letters, digits, '_', '.' and '-' only "
                                    "(it goes into URLs and TorchServe's configuration)")
    if batch_size < 1 or max_batch_delay_ms < 0:
        raise registry.ServingError(f"batch size {batch_size} and delay {max_batch_delay_ms} ms: "
                                    "a batch holds at least 1 request, and the delay is not negative")
    model_path, workdir = os.path.abspath(model_path), os.path.abspath(workdir)
    version, features = _read_archive(model_path)
    launcher = shutil.which("torchserve")
    if not launcher:
        raise registry.ServingError("torchserve is not on PATH: run tandem through scripts/env")
    if not shutil.which("java") and not os.environ.get("JAVA_HOME"):
        raise registry.ServingError("TorchServe needs Java (17 or later): java is not on PATH, and JAVA_HOME is unset")
    tmp = os.path.join(workdir, "tmp")
    if len(os.path.join(tmp, ".ts.sock.65535")) > SOCKET_PATH_MAX:
        raise registry.ServingError(f"the server folder {workdir} is too deep: TorchServe's worker sockets go in "
                                    f"{tmp}, and a socket's path has at most {SOCKET_PATH_MAX} characters")
    _check_not_running(tmp)
    loopback = {"management": ports["management"], "grpc_management": ports["grpc_management"]}
    registry.ensure_free(loopback)
    registry.ensure_free({name: ports[name] for name in ("inference", "metrics", "grpc")}, _client_host(host))

    os.makedirs(workdir, exist_ok=True)
    shutil.rmtree(tmp, ignore_errors=True)  # a stopped server's sockets and unpacked archives
    os.makedirs(tmp)
    key_file = os.path.join(workdir, KEY_FILE)
    if os.path.exists(key_file):
        os.remove(key_file)  # a stopped server's keys: wait for this one's
    config = os.path.join(workdir, "config.properties")
    with open(config, "w") as f:
        f.write(render_config(model_path=model_path, model_name=model_name, version=version, ports=ports,
                              host=host, model_api=model_api, token_auth=token_auth, batch_size=batch_size,
                              max_batch_delay_ms=max_batch_delay_ms))
    log = os.path.join(workdir, LOG_FILE)
    command = [sys.executable, "-I", "-c", _SUPERVISOR, launcher, "--foreground", "--ts-config", config,
               "--model-store", os.path.dirname(model_path), "--no-config-snapshots"]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=workdir, env=_environment(workdir, tmp, detach),
                                   stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)

    client = _client_host(host)
    endpoints = {
        "inference": f"http://{_hostport(client, ports['inference'])}/predictions/{model_name}",
        "management": f"http://{_hostport('127.0.0.1', ports['management'])}",
        "metrics": f"http://{_hostport(client, ports['metrics'])}/metrics",
        "grpc": _hostport(client, ports["grpc"]),
    }
    probe = json.dumps({"instances": [dict.fromkeys(features)]}).encode()  # one row, every value missing
    deadline = time.time() + timeout
    try:
        while True:
            if process.poll() is not None:
                _fail(process, log, f"TorchServe exited with status {process.returncode} before it was ready")
            if _ready(endpoints, model_name, workdir if token_auth else None, probe):
                break
            if time.time() > deadline:
                _fail(process, log, f"TorchServe did not serve {model_name} within {timeout:.0f}s")
            time.sleep(0.25)
    except BaseException:  # interrupted too: a server nobody recorded would run on, unstoppable by tandem
        registry.end_process(process)
        raise
    return registry.Server(name="torch", backend="torchserve", pid=process.pid, model=model_name, version=version,
                           endpoints=endpoints, workdir=workdir, key_file=key_file if token_auth else "",
                           started=time.time())


def keys(workdir: str, renew_expired: bool = True) -> dict[str, str]:
    """{"inference": key, "management": key} of the TorchServe running from `workdir`, from its
    key_file.json. The two keys expire (token_expiration_min in config.properties); an expired
    one is renewed first through the management API (with the file's API key), unless
    `renew_expired` is false."""
    found = _key_file(workdir)
    expired = [kind for kind in ("inference", "management") if _expired(found[kind].get("expiration time", ""))]
    if expired and renew_expired:
        return renew_keys(workdir, expired)
    return {kind: found[kind]["key"] for kind in ("inference", "management")}


def renew_keys(workdir: str, kinds=("inference", "management")) -> dict[str, str]:
    """New keys of these kinds (the old ones stop working), through the management API's /token
    with the API key; TorchServe rewrites key_file.json. Returns keys(workdir)."""
    management = config_of(workdir).get("management_address")
    if not management:
        raise registry.ServingError(f"{workdir} has no config.properties with a management_address: "
                                    "no TorchServe was started there")
    api_key = _key_file(workdir)["API"]["key"]
    for kind in kinds:
        status, text = request("GET", f"{management}/token?type={kind}", key=api_key)
        if status != 200:
            raise registry.ServingError(f"TorchServe did not renew its {kind} key ({status}): {text.strip()}")
    return keys(workdir, renew_expired=False)


def request(method: str, url: str, key: str | None = None, body: bytes | None = None,
            timeout: float = 10.0, content_type: str = "application/json") -> tuple[int, str]:
    """One HTTP request -> (status, body text); an HTTP error status is an answer, not an exception."""
    headers = {"Content-Type": content_type} if body is not None else {}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode("utf-8", "replace")


def render_config(*, model_path: str, model_name: str, version: str, ports: dict[str, int], host: str,
                  model_api: bool, token_auth: bool, batch_size: int, max_batch_delay_ms: int) -> str:
    """This package's config.properties, with the lines for one start appended (the last value
    of a key wins, for TorchServe and for its launcher alike)."""
    with open(CONFIG) as f:
        base = f.read()
    store = os.path.dirname(os.path.abspath(model_path))
    # A file URL directly in the store, as one regex (TorchServe splits allowed_urls at commas).
    allowed = "file://" + re.escape(store).replace(",", r"\x2C") + r"/[^/]+\.mar"
    batching = {model_name: {version: {"batchSize": batch_size, "maxBatchDelay": max_batch_delay_ms}}}
    # The JVM's temporary folder comes from TEMP (server._environment): a path in vmargs would
    # be split at its spaces by the launcher.
    vmargs = " ".join(arg for arg in _properties(base).get("vmargs", "").split()
                      if not arg.startswith("-Djava.io.tmpdir="))
    lines = {
        "inference_address": f"http://{_hostport(host, ports['inference'])}",
        "management_address": f"http://{_hostport('127.0.0.1', ports['management'])}",
        "metrics_address": f"http://{_hostport(host, ports['metrics'])}",
        "grpc_inference_address": host,
        "grpc_inference_port": ports["grpc"],
        "grpc_management_address": "127.0.0.1",
        "grpc_management_port": ports["grpc_management"],
        "model_store": store,
        "load_models": f"{model_name}={os.path.basename(model_path)}",
        "allowed_urls": allowed,
        "models": json.dumps(batching),
        "enable_model_api": str(model_api).lower(),
        "disable_token_authorization": str(not token_auth).lower(),
        "vmargs": vmargs,
    }
    block = "".join(f"{key}={_escape(str(value))}\n" for key, value in lines.items())
    header = "# ---- This start (serving/torchserve/server.py): these values win over those above."
    return f"{base.rstrip()}\n\n{header}\n{block}"


def _read_archive(model_path: str) -> tuple[str, list[str]]:
    """The .mar's version (its manifest) and the raw features its contract.json names."""
    if not os.path.isfile(model_path):
        raise registry.ServingError(f"{model_path}: no such model archive")
    try:
        with zipfile.ZipFile(model_path) as mar:
            manifest = json.loads(mar.read("MAR-INF/MANIFEST.json"))
            contract = json.loads(mar.read(CONTRACT_FILE))
        return str(manifest["model"]["modelVersion"]), list(contract["features"])
    except (zipfile.BadZipFile, KeyError, ValueError) as error:
        raise registry.ServingError(f"{model_path} is not a tandem model archive (a .mar with "
                                    f"MAR-INF/MANIFEST.json and {CONTRACT_FILE}): {error}") from None


def _check_not_running(tmp: str) -> None:
    """The launcher's pid file in this folder names a live server: it is still running."""
    try:
        with open(os.path.join(tmp, ".model_server.pid")) as f:
            pid = int(f.read().strip() or 0)
    except (OSError, ValueError):
        return
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            running = b"org.pytorch.serve.ModelServer" in f.read()
    except OSError:
        running = False
    if running:
        raise registry.ServingError(f"a TorchServe (pid {pid}) still runs from {os.path.dirname(tmp)}: stop it first")


def _environment(workdir: str, tmp: str, detach: bool) -> dict[str, str]:
    """The caller's environment less what must not reach the server: TANDEM_RUN_ID when it is
    to outlive the command (registry.server_environment), PYTHONPATH (the workers import the
    archive's own serving code, not a clone's) and any TS_* variable (with
    enable_envvars_config it would override config.properties silently)."""
    env = {name: value for name, value in registry.server_environment(detach).items()
           if name != "PYTHONPATH" and not name.startswith("TS_")}
    env.update({
        "TS_DECODE_INPUT_REQUEST": "false",  # as decode_input_request in config.properties: raw bodies
        "TEMP": tmp,  # the launcher's -Djava.io.tmpdir
        "TMPDIR": tmp,  # Python's (the launcher's pid file, the workers')
        "LOG_LOCATION": os.path.join(workdir, "logs"),
        "METRICS_LOCATION": os.path.join(workdir, "logs"),
    })
    return env


def _ready(endpoints: dict, model_name: str, workdir: str | None, probe: bytes) -> bool:
    """The model has a READY worker, and answers one row through the contract."""
    try:
        found = keys(workdir, renew_expired=False) if workdir else {"inference": None, "management": None}
    except (OSError, ValueError, KeyError):
        return False  # no key file yet, or half written
    try:
        status, text = request("GET", f"{endpoints['management']}/models/{model_name}", key=found["management"],
                               timeout=5)
        if status != 200 or not any(worker.get("status") == "READY"
                                    for entry in json.loads(text) for worker in entry.get("workers", [])):
            return False
        status, text = request("POST", endpoints["inference"], key=found["inference"], body=probe, timeout=10)
        predictions = json.loads(text).get("predictions") if status == 200 else None
    except (OSError, ValueError, AttributeError, http.client.HTTPException):
        return False
    return (isinstance(predictions, list) and len(predictions) == 1
            and isinstance(predictions[0], float) and math.isfinite(predictions[0]))


def _fail(process: subprocess.Popen, log: str, why: str) -> None:
    registry.end_process(process)
    raise registry.ServingError(f"{why}{_why_from_log(log)}")


def _why_from_log(path: str, lines: int = 20) -> str:
    """The workers' last error, if any, and the end of the log (less the access log of our own
    probes, and Java's stack frames)."""
    try:
        text = registry.log_end(path)
    except OSError as error:
        return f"; its log {path} is unreadable: {error}"
    worker_error = re.compile(r"MODEL_LOG - (Failed to load model|\w+(Error|Exception): (?!500 - Unknown exception))")
    errors = [line.split("MODEL_LOG - ", 1)[1] for line in text if worker_error.search(line)]
    tail = [line for line in text if "ACCESS_LOG" not in line and not line.startswith("\tat ")][-lines:]
    return ((f"; the worker's last error: {errors[-1]}" if errors else "")
            + f"\nthe end of its log ({path}):\n" + "\n".join(tail))


def _key_file(workdir: str) -> dict:
    with open(os.path.join(workdir, KEY_FILE)) as f:
        found = json.load(f)
    for kind in ("inference", "management", "API"):
        if not found.get(kind, {}).get("key"):
            raise KeyError(f"{KEY_FILE} has no {kind} key")
    return found


def _expired(when: str) -> bool:
    """TorchServe's expiration time (Java's Instant: 2025-01-31T12:00:00.123456789Z) has passed."""
    try:
        moment = datetime.fromisoformat(when.replace("Z", "+00:00"))
    except ValueError:
        return False
    return moment <= datetime.now(UTC)


def config_of(workdir: str) -> dict[str, str]:
    """The configuration of the TorchServe started from `workdir` (its rendered config.properties)."""
    try:
        with open(os.path.join(workdir, "config.properties")) as f:
            return _properties(f.read())
    except OSError:
        return {}


def _properties(text: str) -> dict[str, str]:
    """key=value lines (the last value wins), as TorchServe's launcher reads them: no escapes."""
    found = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "!")) and "=" in line:
            key, value = line.split("=", 1)
            found[key.strip()] = value.strip()
    return found


def _escape(value: str) -> str:
    """A value as java.util.Properties reads it back (ISO-8859-1, backslash escapes)."""
    out = []
    for char in value.replace("\\", "\\\\"):
        code = ord(char)
        if 0x20 <= code < 0x7F:
            out.append(char)
        else:
            data = char.encode("utf-16-be")
            out.extend(f"\\u{int.from_bytes(data[i:i + 2], 'big'):04x}" for i in range(0, len(data), 2))
    return "".join(out)


def _client_host(host: str) -> str:
    """Where a client on this machine reaches a server bound to `host`."""
    return {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
