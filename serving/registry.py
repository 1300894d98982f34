"""The model servers tandem started under a home: `<home>/servers/<name>.json` each.

`tandem serve` starts a server in a session of its own (it outlives the command, and is
not one of the run's processes), records it here, and `tandem serve stop` / `status` read
it back. Standard library only, like all of serving/.
"""

import json
import os
import signal
import socket
import time
from dataclasses import asdict, dataclass, field

RUN_ID_ENV = "TANDEM_RUN_ID"  # pipelines/home.py's: a run's processes carry it, and end with the run


def server_environment(detach: bool) -> dict[str, str]:
    """The caller's environment for a server process. Detached (`tandem serve`), without the
    run id: it outlives the command. Attached (a run's infra validation), with it: it ends with
    the run, and a killed run's server is ended by the next command on the home."""
    return {k: v for k, v in os.environ.items() if not (detach and k == RUN_ID_ENV)}


class ServingError(RuntimeError):
    """A server could not be started, reached or stopped: the message says why."""


@dataclass
class Server:
    name: str  # "tf" or "torch": which model it serves
    backend: str  # "torchserve", "kserve" or "tensorflow_model_server"
    pid: int  # the server's process (the leader of its own process group)
    model: str  # the served model's name
    version: str  # the pushed version it serves
    endpoints: dict[str, str] = field(default_factory=dict)  # "rest", "grpc", "metrics", ... -> URL
    workdir: str = ""  # its private folder (logs; TorchServe's key_file.json)
    key_file: str = ""  # where the TorchServe keys are, if the server has any
    started: float = 0.0

    @property
    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                return f.read().split(")")[-1].split()[0] != "Z"
        except OSError:
            return True


def servers_dir(home: str) -> str:
    return os.path.join(home, "servers")


def record(home: str, server: Server) -> None:
    os.makedirs(servers_dir(home), exist_ok=True)
    path = os.path.join(servers_dir(home), f"{server.name}.json")
    with open(path + ".tmp", "w") as f:
        json.dump(asdict(server), f, indent=1)
    os.replace(path + ".tmp", path)


def running(home: str) -> list[Server]:
    """The servers recorded under `home` that are still alive (records of dead ones go)."""
    found = []
    folder = servers_dir(home)
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        if not name.endswith(".json"):
            continue
        with open(os.path.join(folder, name)) as f:
            server = Server(**json.load(f))
        if server.alive:
            found.append(server)
        else:
            os.remove(os.path.join(folder, name))
    return found


def stop(home: str, name: str | None = None, grace: float = 20.0) -> list[Server]:
    """Stop the recorded servers (all, or the one named): SIGTERM to its process group, then
    SIGKILL after `grace` seconds. Returns those stopped."""
    stopped = []
    for server in running(home):
        if name and server.name != name:
            continue
        terminate(server, grace)
        os.remove(os.path.join(servers_dir(home), f"{server.name}.json"))
        stopped.append(server)
    return stopped


def terminate(server: Server, grace: float = 20.0) -> None:
    """End a server's process group: SIGTERM, then SIGKILL after `grace` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.time() + grace
        while time.time() < deadline and server.alive:
            time.sleep(0.2)
        if not server.alive:
            return


def end_process(process, grace: float = 15.0) -> None:
    """End a server process this process started (a subprocess.Popen leading its own process
    group) that failed to start: SIGTERM to the group, SIGKILL after `grace` seconds; reap it."""
    import subprocess

    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(grace)
            break
        except subprocess.TimeoutExpired:
            continue
    process.wait()


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def ensure_free(ports: dict[str, int], host: str = "127.0.0.1") -> None:
    """A clear error for a port something already listens on (name -> port)."""
    for what, port in ports.items():
        if port_in_use(port, host):
            raise ServingError(f"port {port} ({what}) is already in use on {host}: stop what listens there, "
                               f"or choose another port")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def on_free_ports(start, names, attempts: int = 3):
    """`start(ports)` on ports the kernel says are free ({name: port} for `names`); again on new
    ones if another process bound one of them between the choice and the server's bind (seen by
    ensure_free, or in the end of the log of a server that exited: "address already in use")."""
    for attempt in range(attempts):
        try:
            return start({name: free_port() for name in names})
        except ServingError as error:
            if "already in use" not in str(error).lower() or attempt == attempts - 1:
                raise


def log_end(path: str, size: int = 262144) -> list[str]:
    """The last `size` bytes of a server's log, as lines (OSError if it cannot be read)."""
    with open(path, "rb") as f:
        f.seek(max(0, os.path.getsize(path) - size))
        return f.read().decode("utf-8", "replace").splitlines()


def _log_tail(path: str, lines: int = 20) -> str:
    try:
        return f"; the end of its log ({path}):\n" + "\n".join(log_end(path)[-lines:])
    except OSError as error:
        return f"; its log {path} is unreadable: {error}"


def wait_until(ready, timeout: float, process=None, what: str = "the server", log: str = "") -> None:
    """Poll `ready()` until it is true; fail clearly if `process` exits or time runs out. Either
    error carries the end of the server's log: why it exited (on_free_ports reads it), or what
    it was still doing."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if ready():
            return
        if process is not None and process.poll() is not None:
            raise ServingError(f"{what} exited with status {process.returncode} before it was ready"
                               + (_log_tail(log) if log else ""))
        time.sleep(0.1)  # a refused loopback connection costs microseconds; a late start, a pipeline's time
    raise ServingError(f"{what} was not ready after {timeout:.0f}s" + (_log_tail(log) if log else ""))
