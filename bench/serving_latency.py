"""Benchmark: tandem's model servers vs. the same pushed model called in-process.

    python -m bench.serving_latency [--home DIR] [--load-seconds 60] [--quick] [--train]

Servers, each on the newest pushed version under --home, on free ports, one at a time:
  torchserve   the .mar on real TorchServe (serving/torchserve), twice: without server-side
               batching (batch size 1) and with it (--batch-size / --max-batch-delay-ms,
               default: what `tandem serve torch` configures)
  kserve-torch the .mar on KServe's V1 server (serving/kserve start_torch)
  kserve-tf    the SavedModel on KServe's V1 server (serving/kserve start_tf)
  tensorflow_model_server, the real binary, only where it is on PATH
The floor each is compared with is the same model called in this process on rows already in
memory (no JSON, no HTTP): the archive's TorchScript model for the torch servers, the
SavedModel's serving_default for the tf ones (TensorFlow is imported only then).

Per server: p50 and p99 latency of one request of 1 row and of 64 rows (sequential, one
client); rows/s with 1, 4 and 16 concurrent clients sending 1-row requests (each phase after
an untimed warm-up at the same concurrency); then, against TorchServe with batching, a
--load-seconds load at 16 clients counting every error. The client is http.client over
loopback, one persistent (keep-alive) connection per client thread, request bodies encoded
once beforehand. Progress goes to stderr; one table and the targets, met or not, to
stdout. Clients and servers share this machine's cores.
"""

import argparse
import contextlib
import csv
import http.client
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import warnings
import zipfile
from dataclasses import dataclass, field

from components import datasets
from serving import client, registry
from serving.contract import CONTRACT_FILE, NUMBER
from serving.torchserve import server as torchserve

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PORT_NAMES = ("inference", "management", "metrics", "grpc", "grpc_management", "rest")
BIG = 64  # rows in the "big" request
CONCURRENCY = (1, 4, 16)  # clients in the throughput phases
LOAD_CLIENTS = 16
START_TIMEOUT = 300.0  # seconds: starting a JVM or importing TensorFlow on a busy two-core machine
TARGET_OVERHEAD_MS = 3.0  # the targets
TARGET_GAIN = 5.0
T0 = time.perf_counter()


def say(message: str) -> None:
    print(f"[bench {time.perf_counter() - T0:5.0f}s] {message}", file=sys.stderr, flush=True)


class BenchError(RuntimeError):
    """A request that failed: a status other than 200, or an answer that is not the contract's."""


# ---------------------------------------------------------------- the pushed models and the rows
@dataclass
class Pushed:
    model_name: str
    mar: str | None  # the newest pushed .mar, if any
    saved_model: str | None  # the newest pushed SavedModel folder, if any
    features: dict[str, str]  # the contract: raw feature -> "number" | "string"


def find_pushed(home: str, dataset_name: str) -> Pushed | None:
    from tandem.commands.serving import pushed_versions

    model_name = datasets.load(dataset_name).model_name
    newest = {}
    for branch in ("torch", "tf"):
        found = pushed_versions(home, branch, model_name)
        newest[branch] = found[max(found)] if found else None
    if not any(newest.values()):
        return None
    # The served artifact's own contract: what its servers check requests against.
    if newest["torch"]:
        with zipfile.ZipFile(newest["torch"]) as mar:
            features = json.loads(mar.read(CONTRACT_FILE))["features"]
    else:
        with open(os.path.join(newest["tf"], "assets.extra", CONTRACT_FILE)) as f:
            features = json.load(f)["features"]
    return Pushed(model_name, newest["torch"], newest["tf"], dict(features))


def sample_rows(dataset_name: str, features: dict[str, str], count: int) -> list[dict]:
    """`count` request rows (the contract's: every feature, null = missing), cycled from the
    dataset's checked-in sample; without one, the servers' own probe row (0 and missing)."""
    path = datasets.load(dataset_name).sample_path
    rows = []
    if path:
        with open(path, newline="") as f:
            for raw in csv.DictReader(f):
                if any(name not in raw for name in features):
                    rows = []
                    break
                rows.append({name: (float(raw[name]) if raw[name] else None) if kind == NUMBER else (raw[name] or None)
                             for name, kind in features.items()})
                if len(rows) == count:
                    break
    if not rows:
        rows = [{name: 0.0 if kind == NUMBER else None for name, kind in features.items()}]
    return [rows[i % len(rows)] for i in range(count)]


def columns_of(rows: list[dict], features: dict[str, str]) -> dict:
    """Rows -> numpy columns as the servers build them: float64 (NaN = missing), str ("" = missing)."""
    import numpy as np

    return {name: np.array([math.nan if r[name] is None else r[name] for r in rows], dtype=np.float64)
            if kind == NUMBER else np.array([r[name] or "" for r in rows], dtype=str)
            for name, kind in features.items()}


# ---------------------------------------------------------------- measuring
def percentile(values: list[float], q: float) -> float:
    """Nearest rank: with few samples p99 is the slowest one, never an interpolated guess."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


@dataclass
class Run:
    """One throughput phase's outcome."""

    ok: int = 0
    errors: int = 0
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    first_error: str = ""


class Target:
    """A predict URL with the headers it wants, and a request body per row count, encoded once."""

    def __init__(self, url: str, token: str | None, bodies: dict[int, bytes]):
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.path = parts.path + (f"?{parts.query}" if parts.query else "")
        self.headers = {"Content-Type": "application/json", "Connection": "keep-alive"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.bodies = bodies

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=30)

    def call(self, conn: http.client.HTTPConnection, rows: int) -> None:
        conn.request("POST", self.path, self.bodies[rows], self.headers)
        response = conn.getresponse()
        data = response.read()  # read in full, or the connection cannot be reused
        if response.status != 200:
            raise BenchError(f"{response.status}: {data[:200]!r}")
        answer = json.loads(data)
        predictions = answer.get("predictions") if isinstance(answer, dict) else None
        if not isinstance(predictions, list) or len(predictions) != rows:
            raise BenchError(f"answered {data[:200]!r}, not {rows} predictions")


def latency(call, count: int, warmup: int) -> list[float]:
    """Seconds per call of `call()`, one after the other, after `warmup` untimed calls."""
    for _ in range(warmup):
        call()
    out = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        out.append(time.perf_counter() - start)
    return out


def server_latency(target: Target, rows: int, count: int, warmup: int) -> list[float]:
    conn = target.connect()
    try:
        return latency(lambda: target.call(conn, rows), count, warmup)
    finally:
        conn.close()


def throughput(target: Target, clients: int, seconds: float) -> Run:
    """`clients` threads, each on its own connection, send 1-row requests for `seconds`.
    They start together (a barrier, after one untimed request each opened the connection);
    the clock stops when the last one has its last answer."""
    run, lock = Run(), threading.Lock()
    barrier = threading.Barrier(clients + 1)

    def client_thread():
        conn, mine, errors, first = target.connect(), [], 0, ""

        def send() -> bool:
            nonlocal conn, errors, first
            try:
                target.call(conn, 1)
                return True
            except (OSError, ValueError, http.client.HTTPException, BenchError) as error:
                errors += 1
                first = first or f"{type(error).__name__}: {error}"
                conn.close()
                conn = target.connect()
                time.sleep(0.05)  # a dead server is not hammered into millions of errors
                return False

        send()  # opens the connection, untimed; an error counts all the same
        barrier.wait()
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            start = time.perf_counter()
            if send():
                mine.append(time.perf_counter() - start)
        conn.close()
        with lock:
            run.ok += len(mine)
            run.errors += errors
            run.latencies += mine
            run.first_error = run.first_error or first

    threads = [threading.Thread(target=client_thread, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    run.elapsed = time.perf_counter() - start
    return run


@dataclass
class Result:
    """One line of the table: a server (or a floor) and what was measured of it."""

    label: str
    floor: str = ""  # the label of the in-process floor it is compared with; "" for a floor
    lat: dict[int, list[float]] = field(default_factory=dict)  # rows -> seconds per request
    rps: dict[int, float] = field(default_factory=dict)  # clients -> rows/s
    batching: str = "no"  # "no", "yes", or "n/a" (the server has none)
    note: str = ""  # why there are no numbers (not found, failed to start)
    errors: int = 0  # in the throughput phases

    def p(self, rows: int, q: float) -> float:
        return percentile(self.lat[rows], q) * 1000.0


def measure_server(result: Result, target: Target, args) -> None:
    for rows in (1, BIG):
        say(f"{result.label}: latency, {rows} row(s) per request, {args.requests} requests")
        result.lat[rows] = server_latency(target, rows, args.requests, args.warmup)
    for clients in CONCURRENCY:
        say(f"{result.label}: throughput, {clients} client(s) sending 1-row requests for {args.seconds:g}s "
            f"(after {args.phase_warmup:g}s untimed)")
        # Untimed first, so the phase measures a steady rate: TorchScript's first calls on a new
        # input shape are slow (its profiling JIT), and with batching each new batch size is one.
        warm = throughput(target, clients, args.phase_warmup)
        result.errors += warm.errors
        run = throughput(target, clients, args.seconds)
        result.rps[clients] = run.ok / run.elapsed
        result.errors += run.errors
        if run.errors:
            say(f"{result.label}: {run.errors} error(s) at {clients} clients, the first: {run.first_error}")


# ---------------------------------------------------------------- the floors: the models in-process
def torch_floor(mar: str, rows: list[dict], features: dict, work: str, args) -> Result:
    """The archive's TorchScript model, as TorchServe's handler calls it: tensors built from
    parsed columns, then forward."""
    import torch

    from pipelines.torch_branch.runtime.predict import as_inputs

    with zipfile.ZipFile(mar) as archive:
        manifest = json.loads(archive.read("MAR-INF/MANIFEST.json"))
        serialized = manifest.get("model", {}).get("serializedFile") or "model.pt"
        archive.extract(serialized, work)
    with warnings.catch_warnings():  # TorchScript is what the archive holds, deprecated or not
        warnings.simplefilter("ignore", FutureWarning)
        model = torch.jit.load(os.path.join(work, serialized)).eval()
    result = Result("in-process TorchScript")
    for count in (1, BIG):
        columns = columns_of(rows[:count], features)

        def call(columns=columns):
            with torch.no_grad():
                model(*as_inputs(model, columns)).numpy()

        say(f"{result.label}: latency, {count} row(s) per call")
        result.lat[count] = latency(call, args.requests, args.warmup)
    result.rps[1] = 1.0 / (sum(result.lat[1]) / len(result.lat[1]))  # one caller, back to back
    return result


def tf_floor(saved_model: str, rows: list[dict], features: dict, args) -> Result:
    """The SavedModel's serving_default, as KServe's and TF Serving's servers call it."""
    from tandem.commands.query import _quiet_native

    say("in-process serving_default: importing TensorFlow, loading the SavedModel")
    with _quiet_native(verbose=False):  # TF's C++ start-up lines would bury the progress lines
        import tensorflow as tf  # here only: the torch half of the bench never pays for it

        signature = tf.saved_model.load(saved_model).signatures[client.SERVING_DEFAULT]
    result = Result("in-process serving_default")
    for count in (1, BIG):
        columns = columns_of(rows[:count], features)

        def call(columns=columns):
            signature(**{name: tf.constant(values) for name, values in columns.items()})[client.OUTPUT_KEY].numpy()

        say(f"{result.label}: latency, {count} row(s) per call")
        result.lat[count] = latency(call, args.requests, args.warmup)
    result.rps[1] = 1.0 / (sum(result.lat[1]) / len(result.lat[1]))
    return result


# ---------------------------------------------------------------- the servers
@contextlib.contextmanager
def started(label: str, start):
    """A server from `start()`, stopped (its whole process group) however the block ends."""
    say(f"{label}: starting")
    begin = time.perf_counter()
    server = start()
    say(f"{label}: ready in {time.perf_counter() - begin:.1f}s (pid {server.pid})")
    try:
        yield server
    finally:
        say(f"{label}: stopping")
        registry.terminate(server)


def free_ports() -> dict[str, int]:
    """Fresh ports for every name a server may want, never the defaults a user's servers hold."""
    return {name: registry.free_port() for name in PORT_NAMES}


def bodies(rows: list[dict], features: dict, backend: str | None) -> dict[int, bytes]:
    return {count: json.dumps({"instances": client.for_server(rows[:count], features, backend)}).encode()
            for count in (1, BIG)}


def bench_torch(pushed: Pushed, rows: list[dict], work: str, args, results: list[Result]) -> tuple[str, Run] | None:
    """TorchServe without and with batching, then KServe. The load runs on TorchServe with
    batching (by default configured as `tandem serve torch` does): returns (its label, the load's Run)."""
    plain_body = bodies(rows, pushed.features, None)
    load = None
    configs = [("torchserve, no batching", 1, 0, "no"),
               (f"torchserve, batch {args.batch_size} / {args.max_batch_delay_ms} ms", args.batch_size,
                args.max_batch_delay_ms, "yes")]
    for label, batch_size, delay, batching in configs:
        result = Result(label, floor="in-process TorchScript", batching=batching)
        results.append(result)
        folder = tempfile.mkdtemp(prefix="ts-", dir=work)  # short: TorchServe's sockets live in it

        def start(batch_size=batch_size, delay=delay, folder=folder):
            return torchserve.start(model_path=pushed.mar, model_name=pushed.model_name, workdir=folder,
                                    ports=free_ports(), batch_size=batch_size, max_batch_delay_ms=delay,
                                    timeout=START_TIMEOUT)

        try:
            with started(label, start) as server:
                target = Target(server.endpoints["inference"], torchserve.keys(server.workdir)["inference"],
                                plain_body)
                measure_server(result, target, args)
                if batching == "yes":
                    say(f"{label}: load, {LOAD_CLIENTS} clients for {args.load_seconds:g}s, counting errors")
                    load = (label, throughput(target, LOAD_CLIENTS, args.load_seconds))
        except registry.ServingError as error:
            result.note = f"did not start: {error}".splitlines()[0]
            say(f"{label}: {result.note}")

    result = Result("kserve-torch", floor="in-process TorchScript", batching="n/a")
    results.append(result)
    try:
        with started(result.label, lambda: _kserve("torch", pushed.mar, pushed.model_name, work)) as server:
            measure_server(result, Target(server.endpoints["rest"], None, plain_body), args)
    except registry.ServingError as error:
        result.note = f"did not start: {error}".splitlines()[0]
        say(f"{result.label}: {result.note}")
    return load


def bench_tf(pushed: Pushed, rows: list[dict], work: str, args, results: list[Result]) -> None:
    result = Result("kserve-tf", floor="in-process serving_default", batching="n/a")
    results.append(result)
    try:
        with started(result.label, lambda: _kserve("tf", pushed.saved_model, pushed.model_name, work)) as server:
            measure_server(result, Target(server.endpoints["rest"], None, bodies(rows, pushed.features, None)), args)
    except registry.ServingError as error:
        result.note = f"did not start: {error}".splitlines()[0]
        say(f"{result.label}: {result.note}")

    # TF Serving's start() always turns its batching on (batching.config): one configuration.
    result = Result(client.TF_MODEL_SERVER, floor="in-process serving_default", batching="yes")
    results.append(result)
    if not shutil.which(client.TF_MODEL_SERVER):
        result.note = "not found on PATH: not measured"
        say(f"{result.label}: {result.note}")
        return
    from serving.tfserving import server as tfserving

    def start():
        return tfserving.start(model_path=pushed.saved_model, model_name=pushed.model_name,
                               workdir=tempfile.mkdtemp(prefix="tfs-", dir=work), ports=free_ports(),
                               timeout=START_TIMEOUT)

    try:
        with started(result.label, start) as server:
            # Stock TF Serving refuses null for a number over REST: client.for_server rewrites it.
            target = Target(server.endpoints["rest"], None, bodies(rows, pushed.features, client.TF_MODEL_SERVER))
            measure_server(result, target, args)
    except registry.ServingError as error:
        result.note = f"did not start: {error}".splitlines()[0]
        say(f"{result.label}: {result.note}")


def _kserve(kind: str, model_path: str, model_name: str, work: str) -> registry.Server:
    from serving.kserve import server as kserve

    start = kserve.start_tf if kind == "tf" else kserve.start_torch
    return start(model_path=model_path, model_name=model_name, workdir=tempfile.mkdtemp(prefix="ks-", dir=work),
                 ports=free_ports(), timeout=START_TIMEOUT)


# ---------------------------------------------------------------- the report
def table(results: list[Result]) -> list[str]:
    floors = {r.label: r for r in results if not r.floor}
    base16 = {r.floor: r.rps.get(16) for r in results if r.floor and r.batching == "no" and r.rps}
    head = ["server", "p50 1 row", "p99 1 row", "p50 64 rows", "p99 64 rows", "1-row overhead", "x floor 1",
            "x floor 64", "rows/s c=1", "c=4", "c=16", "batching gain c=16"]
    lines = [head]
    for r in results:
        if r.note:
            lines.append([r.label, r.note])
            continue
        floor = floors.get(r.floor)
        cells = [r.label] + [f"{r.p(rows, q):.2f} ms" for rows, q in ((1, .5), (1, .99), (BIG, .5), (BIG, .99))]
        if floor:
            cells += [f"{r.p(1, .5) - floor.p(1, .5):+.2f} ms", f"{r.p(1, .5) / floor.p(1, .5):.1f}x",
                      f"{r.p(BIG, .5) / floor.p(BIG, .5):.1f}x"]
        else:
            cells += ["floor", "1.0x", "1.0x"]
        cells += [f"{r.rps[c]:,.0f}" if c in r.rps else "-" for c in CONCURRENCY]
        if r.batching == "yes" and base16.get(r.floor) and 16 in r.rps:
            cells.append(f"{r.rps[16] / base16[r.floor]:.2f}x")
        else:
            cells.append({"no": "base" if r.floor else "-", "n/a": "n/a (none)", "yes": "-"}[r.batching])
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines if len(line) > 2) for i in range(len(head))]
    out = []
    for n, line in enumerate(lines):
        if len(line) == 2:  # a server without numbers: its note across the row
            out.append(f"{line[0]:<{widths[0]}} | {line[1]}")
        else:
            out.append(" | ".join(f"{c:<{w}}" if i == 0 else f"{c:>{w}}" for i, (c, w) in enumerate(zip(line, widths,
                                                                                                     strict=True))))
        if n == 0:
            out.append("-+-".join("-" * w for w in widths))
    return out


def targets(results: list[Result], load: tuple[str, Run] | None, args) -> list[str]:
    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    floors = {r.label: r for r in results if not r.floor}
    ts = [r for r in results if r.label.startswith("torchserve") and not r.note]
    out = [f"target: TorchServe p50 overhead <= {TARGET_OVERHEAD_MS:g} ms for one row:"]
    for r in ts:
        overhead = r.p(1, .5) - floors[r.floor].p(1, .5)
        out.append(f"  {r.label}: {verdict(overhead <= TARGET_OVERHEAD_MS)} ({overhead:.2f} ms over in-process)")
    if not ts:
        out.append("  not measured (TorchServe did not run)")
    plain = next((r for r in ts if r.batching == "no"), None)
    batched = next((r for r in ts if r.batching == "yes"), None)
    if plain and batched:
        gain = batched.rps[16] / plain.rps[16]
        out.append(f"target: server-side batching raises rows/s >= {TARGET_GAIN:g}x over one-row requests "
                   f"(TorchServe, 16 clients): {verdict(gain >= TARGET_GAIN)} ({gain:.2f}x: "
                   f"{batched.rps[16]:,.0f} vs {plain.rps[16]:,.0f} rows/s)")
    else:
        out.append(f"target: server-side batching raises rows/s >= {TARGET_GAIN:g}x: not measured")
    if load:
        label, run = load
        seen = (f"p50 {percentile(run.latencies, .5) * 1000:.2f} ms, p99 {percentile(run.latencies, .99) * 1000:.2f} ms"
                if run.latencies else "no answer")
        out.append(f"target: zero errors during the load ({args.load_seconds:g}s, {LOAD_CLIENTS} clients, {label}): "
                   f"{verdict(run.errors == 0)} (errors={run.errors} of {run.ok + run.errors} requests; "
                   f"{run.ok / run.elapsed:,.0f} rows/s, {seen})")
        if run.errors:
            out.append(f"  the first error: {run.first_error}")
    else:
        out.append("target: zero errors during the load: not measured (TorchServe with batching did not run)")
    return out


# ---------------------------------------------------------------- main
def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", default="tandem_home", help="where `tandem run all` pushed the models")
    parser.add_argument("--dataset", default=datasets.DEFAULT, choices=datasets.names(),
                        help=f"the dataset whose model was pushed (default: {datasets.DEFAULT})")
    parser.add_argument("--requests", type=int, default=300, help="timed requests per latency measurement")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests before each latency measurement")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each throughput phase")
    parser.add_argument("--phase-warmup", type=float, default=3.0,
                        help="untimed seconds at the same concurrency before each throughput phase")
    parser.add_argument("--load-seconds", type=float, default=60.0, help="length of the zero-error load")
    parser.add_argument("--batch-size", type=int, default=torchserve.DEFAULT_BATCH_SIZE,
                        help="TorchServe's batch size with batching (default: what `tandem serve` configures)")
    parser.add_argument("--max-batch-delay-ms", type=int, default=torchserve.DEFAULT_MAX_BATCH_DELAY_MS,
                        help="TorchServe's max batch delay with batching (default: what `tandem serve` configures)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke test: 30 requests, 1.5 s phases after 0.5 s warm-ups, 3 s load")
    parser.add_argument("--train", action="store_true",
                        help="if nothing is pushed, run `bin/tandem run all --home HOME --train-steps 200` first")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.warmup, args.seconds, args.phase_warmup, args.load_seconds = 30, 5, 1.5, 0.5, 3.0
    # A SIGTERM ends the bench through its finally blocks, which stop the servers it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    home = os.path.abspath(args.home)
    pushed = find_pushed(home, args.dataset)
    if pushed is None and args.train:
        say(f"nothing pushed under {home}: running `tandem run all --train-steps 200` there (minutes)")
        command = [os.path.join(REPO, "bin", "tandem"), "run", "all", "--home", home, "--dataset", args.dataset,
                   "--train-steps", "200"]
        if subprocess.run(command, stdout=sys.stderr).returncode != 0:
            raise SystemExit(f"`{' '.join(command)}` failed")
        pushed = find_pushed(home, args.dataset)
    if pushed is None:
        raise SystemExit(f"no pushed {args.dataset} model under {home}: run `tandem run all --home {home}` first "
                         "(or pass --train, and this bench runs it with --train-steps 200)")
    rows = sample_rows(args.dataset, pushed.features, BIG)
    say(f"models: {pushed.mar or 'no .mar pushed'}; {pushed.saved_model or 'no SavedModel pushed'}")

    results: list[Result] = []
    load = None
    busy_before = os.getloadavg()[0]  # other work on the machine skews every number: say how much there was
    work = tempfile.mkdtemp(prefix="tandem-bench-serving-")  # short: TorchServe's socket paths
    try:
        if pushed.mar:
            results.append(torch_floor(pushed.mar, rows, pushed.features, work, args))
            load = bench_torch(pushed, rows, work, args, results)
        else:
            results.append(Result("torch servers", note=f"no .mar pushed under {home}: run `tandem run torch`"))
        if pushed.saved_model:
            results.append(tf_floor(pushed.saved_model, rows, pushed.features, args))
            bench_tf(pushed, rows, work, args, results)
        else:
            results.append(Result("tf servers", note=f"no SavedModel pushed under {home}: run `tandem run tf`"))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"\nServing latency and throughput: {pushed.model_name} from {home}; REST over loopback with "
          f"http.client, one keep-alive connection per client; {args.requests} timed requests per latency, "
          f"{args.seconds:g}s per throughput phase of 1-row requests, after {args.phase_warmup:g}s untimed. Overhead "
          "and 'x floor' are against the same model called in-process on rows already in memory.\n")
    print("\n".join(table(results)))
    print()
    print("\n".join(targets(results, load, args)))
    errors = sum(r.errors for r in results)
    print(f"\nerrors in the throughput phases: {errors}")
    print("KServe: its V1 model server (kserve.ModelServer) has no server-side batching; KServe batches only "
          "in the InferenceService's agent sidecar on Kubernetes (spec.predictor.batcher), so 'n/a'.")
    print(f"machine: {os.cpu_count()} cores, shared by the clients and the server under test; load average "
          f"{busy_before:.1f} before the bench, {os.getloadavg()[0]:.1f} after it")


if __name__ == "__main__":
    main()
