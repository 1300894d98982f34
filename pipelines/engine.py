"""A Beam engine whose workers are separate processes: Beam's portable job service and an
EXTERNAL SDK worker pool, the topology Flink and Spark run Python in (and how Beam's workers
run as pods on Kubernetes: docs/engines.md).

    python -m pipelines.engine job-service --port 8099      # Beam's Python job service (+ two fixes, below)
    python -m pipelines.engine worker-pool --port 50000     # Beam's worker pool: starts SDK worker processes
    python -m pipelines.engine up                           # both on this machine, until Ctrl-C; prints
                                                            # the `tandem run` options that use them

A pipeline submitted with `--runner=PortableRunner --job_endpoint=HOST:8099
--environment_type=EXTERNAL --environment_config=HOST:50000 --sdk_worker_parallelism=N` (the
`portable` preset of pipelines/runners.py) is translated and scheduled by the job service, which
asks the pool for N SDK workers; the pool starts each as a process of its own, and every DoFn,
combiner and source of the pipeline runs there, never in the submitting process.

The job service is Beam's own (`apache_beam.runners.portability.local_job_service`, its
LocalJobServicer and BeamJob) with two contained fixes, made through the extension points
Beam provides for them (`beam_job_type`, the servicer's bind and service addresses, the
worker-handler registry):
- Workers: Beam's BeamJob runs its FnApiRunner with one SDK worker whatever the pipeline asks
  (`--sdk_worker_parallelism` is read by Flink's and Spark's job servers, not by this one);
  here it is honoured (0: one per core of the job service's machine), so a job uses N workers.
- Addresses: Beam's job service listens on localhost only, hands clients `localhost` as its
  artifact-staging address, and tells EXTERNAL workers to reach its control, data, state and
  logging servers at `socket.getfqdn()`, a name that may resolve nowhere (in a chroot, a
  container, a pod without a headless Service: on this project's test machine it is `vm`,
  which does not resolve, and Beam's unmodified service waits forever for workers that cannot
  connect). `--bind` sets where it listens, `--advertise` the host it hands to clients and
  workers (`--advertise=$(POD_IP)` on Kubernetes).

`local_engine()` starts both as separate processes for a test, a benchmark or a user on one
machine, waits until they listen, and ends them (and the pool's SDK workers) when its block
exits, however it exits. Started so, each also exits by itself if its parent dies without
ending it (SIGKILL), and they inherit the caller's environment, TANDEM_RUN_ID included, so a
later `tandem` command ends what a killed run left (pipelines/home.py).
"""

import argparse
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from pipelines.home import alive
from serving.registry import free_port, port_in_use


def _parallelism(options) -> int:
    from apache_beam.options.pipeline_options import PortableOptions

    value = int(options.view_as(PortableOptions).sdk_worker_parallelism or 0)  # Beam parses it as text
    return value if value > 0 else (os.cpu_count() or 1)


def serve_job_service(port: int, bind: str = "localhost", advertise: str = "localhost",
                      staging_dir: str | None = None, parent: int | None = None) -> None:
    """Beam's LocalJobServicer on `port`, with the fixes above; runs until SIGTERM or SIGINT."""
    from apache_beam.portability import common_urns
    from apache_beam.portability.api import beam_runner_api_pb2
    from apache_beam.runners.portability import local_job_service
    from apache_beam.runners.portability.fn_api_runner import fn_runner, worker_handlers

    @worker_handlers.WorkerHandler.register_environment(common_urns.environments.EXTERNAL.urn,
                                                        beam_runner_api_pb2.ExternalPayload)
    class ExternalWorkerHandler(worker_handlers.ExternalWorkerHandler):
        def host_from_worker(self):
            return advertise

    class BeamJob(local_job_service.BeamJob):
        def _invoke_runner(self):  # Beam's, and the number of workers
            from apache_beam.portability.api import beam_job_api_pb2

            self.set_state(beam_job_api_pb2.JobState.RUNNING)
            options = self.pipeline_options()
            runner = fn_runner.FnApiRunner(provision_info=self._provision_info)
            # What FnApiRunner.run_pipeline sets from --direct_num_workers for DirectRunner;
            # run_via_runner_api, the job service's entry, has no other way to say it.
            runner._num_workers = _parallelism(options)
            return runner.run_via_runner_api(self._pipeline_proto, options)

    class JobServicer(local_job_service.LocalJobServicer):
        def get_bind_address(self):
            return bind

        def get_service_address(self):
            return advertise

    servicer = JobServicer(staging_dir, beam_job_type=BeamJob)
    bound = servicer.start_grpc_server(port)
    print(f"tandem engine: job service listening on {bind}:{bound} (workers reach it at {advertise})", flush=True)
    try:
        _wait_for_signal(parent)
    finally:
        servicer.stop()


def serve_worker_pool(port: int, parent: int | None = None) -> None:
    """Beam's worker pool (`python -m apache_beam.runners.worker.worker_pool_main`, what the SDK
    container's `--worker_pool` mode runs) on `port`, unchanged: each StartWorker request starts
    an SDK worker process (`python -c …SdkHarness…`, the `python` on PATH: this environment's)."""
    from apache_beam.runners.worker import worker_pool_main

    address, server = worker_pool_main.BeamFnExternalWorkerPoolServicer.start(use_process=True, port=port)
    print(f"tandem engine: worker pool listening at {address} (pid {os.getpid()})", flush=True)
    try:
        _wait_for_signal(parent)
    finally:
        server.stop(0)  # its atexit hook then ends the SDK workers it started


def _wait_for_signal(parent: int | None = None) -> None:
    """Until SIGTERM or SIGINT, or until `parent` is no longer this process's parent (it died)."""
    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        while parent is None or os.getppid() == parent:
            time.sleep(1 if parent else 3600)
        logging.getLogger(__name__).warning("tandem engine: parent %d is gone; exiting", parent)
    except KeyboardInterrupt:
        pass


@dataclass(frozen=True)
class Engine:
    """A running local engine: its ports, its two processes, where they log."""

    job_port: int
    pool_port: int
    parallelism: int
    job_service: subprocess.Popen
    worker_pool: subprocess.Popen
    log_dir: str

    @property
    def beam_args(self) -> tuple[str, ...]:
        """The Beam options that run a pipeline on this engine (the `portable` preset's)."""
        from pipelines.runners import portable_args

        return portable_args(f"localhost:{self.job_port}", f"localhost:{self.pool_port}", self.parallelism)

    def sdk_workers(self) -> list[int]:
        """The SDK worker processes the pool runs now (its live children)."""
        return [pid for pid in _children(self.worker_pool.pid) if alive(pid)]


def _children(pid: int) -> list[int]:
    """The children of every thread of `pid` (the pool starts workers from its gRPC threads)."""
    found = []
    with suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with suppress(OSError), open(f"/proc/{pid}/task/{tid}/children") as f:
                found += [int(p) for p in f.read().split()]
    return found


@contextmanager
def local_engine(parallelism: int = 0, log_dir: str | None = None, job_port: int = 0, pool_port: int = 0,
                 timeout: float = 120.0):
    """A job service and a worker pool on this machine, each a process of its own (in its own
    session, so a terminal's Ctrl-C reaches the caller, which ends them); yields an Engine.
    `parallelism`: SDK workers per job (0: one per core). Ports: 0, free ones. Their output
    goes to `log_dir`/job-service.log and worker-pool.log (default: a temporary folder)."""
    log_dir = log_dir or tempfile.mkdtemp(prefix="tandem-engine-")
    os.makedirs(log_dir, exist_ok=True)
    job_port, pool_port = job_port or free_port("localhost"), pool_port or free_port("localhost")
    for port in (job_port, pool_port):
        if port_in_use(port, "localhost"):
            raise RuntimeError(f"port {port} is in use (another engine?)")
    started = []
    try:
        for name, args in (("worker-pool", ["worker-pool", "--port", str(pool_port)]),
                           ("job-service", ["job-service", "--port", str(job_port)])):
            args += ["--exit-with-parent", str(os.getpid())]
            with open(os.path.join(log_dir, f"{name}.log"), "ab") as log:
                started.append(subprocess.Popen([sys.executable, "-m", "pipelines.engine", *args], stdout=log,
                                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                                start_new_session=True, env=_environment()))
        pool, job = started
        deadline = time.time() + timeout
        for proc, port, name in ((pool, pool_port, "worker-pool"), (job, job_port, "job-service")):
            while not port_in_use(port, "localhost"):
                if proc.poll() is not None:
                    raise RuntimeError(f"the engine's {name} exited ({proc.returncode}) before listening; see "
                                       f"{os.path.join(log_dir, name + '.log')}")
                if time.time() > deadline:
                    raise TimeoutError(f"the engine's {name} did not listen on port {port} in {timeout:.0f}s")
                time.sleep(0.2)
        yield Engine(job_port, pool_port, parallelism or (os.cpu_count() or 1), job, pool, log_dir)
    finally:
        for proc in reversed(started):
            _end_session(proc)


def _environment() -> dict:
    """The caller's environment, with this clone's code importable (the SDK workers unpickle
    tandem's functions, and the pool starts them as `python` from PATH: this python)."""
    env = dict(os.environ)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    paths = env.get("PYTHONPATH", "").split(os.pathsep)
    env["PYTHONPATH"] = os.pathsep.join([repo] + [p for p in paths if p and p != repo])
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    return env


def _end_session(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM `proc`'s session (it leads it: the pool's SDK workers are in it), SIGKILL after `grace`."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        deadline = time.time() + grace
        while time.time() < deadline and _session_alive(proc.pid):
            proc.poll()
            time.sleep(0.1)
        if not _session_alive(proc.pid):
            break
    proc.wait()


def _session_alive(sid: int) -> bool:
    for entry in os.listdir("/proc"):
        if entry.isdigit() and alive(int(entry)):
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[-1].split()[4]) == sid:  # field 6: the session id
                        return True
            except (OSError, ValueError, IndexError):
                continue
    return False


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.engine", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    job = sub.add_parser("job-service", help="Beam's portable job service (translates and schedules jobs)")
    job.add_argument("--port", type=int, default=8099)
    job.add_argument("--bind", default="localhost", help="the interface to listen on ([::] or 0.0.0.0: all)")
    job.add_argument("--advertise", default="localhost",
                     help="the host workers and clients reach this service at (on Kubernetes: the pod's IP)")
    job.add_argument("--staging-dir", help="where submitted artifacts are staged (default: a temporary folder)")
    pool = sub.add_parser("worker-pool", help="Beam's EXTERNAL worker pool (starts SDK worker processes)")
    pool.add_argument("--port", type=int, default=50000)
    for served in (job, pool):
        served.add_argument("--exit-with-parent", type=int, metavar="PID", help=argparse.SUPPRESS)  # local_engine's
    up = sub.add_parser("up", help="both on this machine until Ctrl-C, and the options that use them")
    up.add_argument("--job-port", type=int, default=8099)
    up.add_argument("--pool-port", type=int, default=50000)
    up.add_argument("--parallelism", type=int, default=0, help="SDK workers per job (default 0: one per core)")
    up.add_argument("--log-dir", help="where their logs go (default: a temporary folder)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "job-service":
        serve_job_service(args.port, args.bind, args.advertise, args.staging_dir, args.exit_with_parent)
    elif args.command == "worker-pool":
        serve_worker_pool(args.port, args.exit_with_parent)
    else:
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))  # ends them too, as Ctrl-C
        with local_engine(args.parallelism, args.log_dir, args.job_port, args.pool_port) as engine:
            from pipelines.runners import WORKER_POOL_PORT

            preset = f"--runner portable --job-endpoint localhost:{engine.job_port}"
            if engine.pool_port != WORKER_POOL_PORT:
                preset += f" --worker-pool localhost:{engine.pool_port}"
            if args.parallelism:
                preset += f" --beam-arg=--sdk_worker_parallelism={args.parallelism}"
            print(f"tandem engine: up (logs in {engine.log_dir}); run pipelines on it with\n  tandem run all {preset}"
                  "\nCtrl-C ends it.", flush=True)
            with suppress(KeyboardInterrupt):
                while engine.job_service.poll() is None and engine.worker_pool.poll() is None:
                    time.sleep(1)
            if engine.job_service.poll() is not None or engine.worker_pool.poll() is not None:
                print(f"tandem engine: a process of it exited; see the logs in {engine.log_dir}", file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
