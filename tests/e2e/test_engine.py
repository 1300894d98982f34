"""The shared front on a multi-process Beam engine (pipelines/engine.py): a job service and an
EXTERNAL SDK worker pool, each a process this test starts, the pool starting SDK worker
processes of its own. The front (CsvExampleGen, StatisticsGen, ImportSchemaGen,
ExampleValidator, the gate, Transform) runs on it and on DirectRunner over the same generated
rows; the statistics must be equal (counts exact; min, max, mean, std within 1e-9 relative;
quantile histograms within TFDV's sketch error bound), and so must the examples and
Transform's outputs. The work must run in the pool's worker processes: a DoFn says which
process it ran in, and the processes are watched while the front runs. When the engine's
block exits, on an error and with a job still running, none of its processes is left."""

import bisect
import glob
import gzip
import math
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import suppress
from operator import ne

import pytest

from pipelines.config import LOCAL_BEAM_ARGS
from pipelines.engine import local_engine

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("engine")]

ROWS = 4000
WORKERS = 2  # SDK worker processes per job on the engine
REL = 1e-9
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BEAM_JOBS = 3  # the front's Beam pipelines: CsvExampleGen, StatisticsGen, Transform
PIDS = ("import os, sys, apache_beam as beam\n"  # a pipeline whose DoFn writes the process it ran in
        "from apache_beam.options.pipeline_options import PipelineOptions\n"
        "with beam.Pipeline(options=PipelineOptions(sys.argv[2:])) as p:\n"
        "    (p | beam.Create(range(200)) | beam.Reshuffle()\n"
        "       | beam.Map(lambda _: f'{os.getpid()} {os.getppid()}') | beam.Distinct()\n"
        "       | beam.io.WriteToText(sys.argv[1], shard_name_template=''))\n")


def _python(code: str, *args: str, output=subprocess.PIPE) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=REPO, stdout=output,
                            stderr=subprocess.STDOUT, text=True)


def _stat(pid: int) -> list[str] | None:
    """/proc/PID/stat's fields after the command's name: [0] state, [1] parent, [11] utime, [12] stime."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"  # a zombie has ended


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _descendants(*roots: int) -> set[int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))):
            parents[int(entry)] = int(stat[1])
    found, frontier = set(), set(roots)
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _is_sdk_worker(pid: int) -> bool:
    # DirectRunner's: `python -m apache_beam.runners.worker.sdk_worker_main`; the pool's: `python -c …SdkHarness…`
    return any(mark in _cmdline(pid) for mark in ("sdk_worker_main", "SdkHarness"))


class Watch(threading.Thread):
    """While a submitting process runs: the SDK worker processes under it, and the CPU seconds
    used by the SDK workers under `workers_under` (the submitter for DirectRunner, the pool for
    the engine; each worker's last reading before it ended)."""

    def __init__(self, submitter: int, workers_under: int):
        super().__init__(daemon=True)
        self.submitter, self.workers_under, self.done = submitter, workers_under, threading.Event()
        self.local_workers, self.worker_cpu = set(), {}

    def run(self):
        ticks = os.sysconf("SC_CLK_TCK")
        while not self.done.is_set():
            self.local_workers |= {pid for pid in _descendants(self.submitter) if _is_sdk_worker(pid)}
            for pid in _descendants(self.workers_under):
                if _is_sdk_worker(pid) and (stat := _stat(pid)):
                    self.worker_cpu[pid] = (int(stat[11]) + int(stat[12])) / ticks  # utime + stime
            time.sleep(0.2)

    @property
    def cpu(self) -> float:
        return sum(self.worker_cpu.values())


RUN_FRONT = ("import sys; from bench.engine_throughput import run_front; "
             "run_front(sys.argv[1], sys.argv[2], sys.argv[3:])")


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    with local_engine(WORKERS, str(tmp_path_factory.mktemp("engine-logs"))) as started:
        yield started


@pytest.fixture(scope="module")
def fronts(engine, tmp_path_factory):
    """The front over the same ROWS rows on DirectRunner and on the engine, at the same time
    (each a process of its own): ({run: work folder}, {run: Watch})."""
    from bench.engine_throughput import generate

    root = tmp_path_factory.mktemp("engine-front")
    csv_path = generate(ROWS, str(root))
    works = {"direct": str(root / "direct"), "portable": str(root / "portable")}
    procs, watches = {}, {}
    try:
        for run, beam_args in (("direct", LOCAL_BEAM_ARGS), ("portable", engine.beam_args)):
            with open(root / f"{run}.log", "w") as output:  # a file: neither run waits on a full pipe
                procs[run] = _python(RUN_FRONT, csv_path, works[run], *beam_args, output=output)
            watches[run] = Watch(procs[run].pid, procs[run].pid if run == "direct" else engine.worker_pool.pid)
            watches[run].start()
        for proc in procs.values():
            proc.wait(timeout=900)
    finally:
        for run, proc in procs.items():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            watches[run].done.set()
            watches[run].join()
    for run, proc in procs.items():
        assert proc.returncode == 0, f"the front on {run}:\n{(root / f'{run}.log').read_text()[-5000:]}"
    return works, watches


def test_a_dofn_runs_in_the_pools_worker_processes(engine, tmp_path):
    proc = _python(PIDS, str(tmp_path / "pids.txt"), *engine.beam_args)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out[-5000:]
    with open(tmp_path / "pids.txt") as f:
        ran_in = {tuple(map(int, line.split())) for line in f}
    assert {parent for _, parent in ran_in} == {engine.worker_pool.pid}  # the pool's children, every one
    assert len({pid for pid, _ in ran_in}) == WORKERS  # --sdk_worker_parallelism is honoured


def test_the_front_runs_in_the_pools_worker_processes(engine, fronts):
    _, watches = fronts
    direct, portable = watches["direct"], watches["portable"]
    # The control: on DirectRunner, the SDK workers are the submitting process's own children.
    assert direct.local_workers and direct.cpu > 1.0, direct.worker_cpu
    assert not portable.local_workers, "an SDK worker ran under the submitting process"
    assert len(portable.worker_cpu) >= BEAM_JOBS * WORKERS, portable.worker_cpu  # each job's own workers
    # The same DoFns on the same rows: the pool's workers did (about) the work DirectRunner's did.
    assert portable.cpu > 0.5 * direct.cpu, (portable.worker_cpu, direct.worker_cpu)
    print(f"SDK workers' CPU: DirectRunner's {direct.cpu:.1f} s, the pool's {portable.cpu:.1f} s")
    with open(os.path.join(engine.log_dir, "worker-pool.log")) as f:
        assert f.read().count("Starting worker with command") >= BEAM_JOBS * WORKERS
    with open(os.path.join(engine.log_dir, "job-service.log")) as f:
        log = f.read()
    assert log.count("Completed job in") >= BEAM_JOBS and "with state DONE" in log
    assert "FAILED" not in log and "Error running pipeline" not in log


class Boom(Exception):
    pass


def test_no_process_of_the_engine_outlives_it(tmp_path):
    """An error in the engine's block, with a job running on it: the job service, the pool and
    every SDK worker end, and the submitting pipeline fails instead of waiting."""
    slow = PIDS.replace("lambda _:", "lambda _: __import__('time').sleep(600) or")
    seen, submitter = set(), None
    try:
        with pytest.raises(Boom), local_engine(WORKERS, str(tmp_path / "logs")) as started:
            submitter = _python(slow, str(tmp_path / "pids.txt"), *started.beam_args)
            roots = (started.job_service.pid, started.worker_pool.pid)
            deadline = time.time() + 120
            while len(started.sdk_workers()) < WORKERS:  # the job runs on its workers
                assert submitter.poll() is None, submitter.communicate()[0][-5000:]
                assert time.time() < deadline, "the job's SDK workers did not start"
                time.sleep(0.2)
            seen = {*roots, *_descendants(*roots)}
            raise Boom
        left = [f"{pid} {_cmdline(pid)}" for pid in seen if _alive(pid)]
        assert not left, left
        assert len(seen) >= 2 + WORKERS
        assert submitter.wait(timeout=60) != 0  # its job service is gone
    finally:
        if submitter and submitter.poll() is None:
            submitter.kill()
            submitter.wait()
        for pid in seen:  # whatever a failure above left
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


# ---------------------------------------------------------------- equality with DirectRunner

def _statistics(work: str) -> dict:
    import tensorflow_data_validation as tfdv

    from bench.engine_throughput import statistics_files

    found = {split: tfdv.load_stats_binary(path) for split, path in statistics_files(work).items()}
    assert set(found) == {"train", "eval"}
    return found


def _files(work: str, component: str, output: str, split: str) -> list[str]:
    paths = glob.glob(os.path.join(work, "root", component, output, "*", f"Split-{split}", "*"))
    assert paths, f"no {component} {output} for {split} under {work}"
    return paths


def _examples(work: str, component: str, output: str, split: str) -> list[bytes]:
    return _records(_files(work, component, output, split))


def _records(paths: list[str]) -> list[bytes]:
    records = []
    for path in paths:  # TFRecord: length (8), its CRC (4), data, its CRC (4); gzipped if named so
        with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
            data = f.read()
        at = 0
        while at < len(data):
            length = int.from_bytes(data[at:at + 8], "little")
            records.append(data[at + 12:at + 12 + length])
            at += 16 + length
    return records


def _values(records: list[bytes]) -> dict[str, list[float]]:
    """Every numeric feature's values in these serialized tf.Examples, sorted."""
    from tensorflow.core.example import example_pb2

    values = {}
    for record in records:
        example = example_pb2.Example.FromString(record)
        for name, feature in example.features.feature.items():
            kind = feature.WhichOneof("kind")
            if kind in ("float_list", "int64_list"):
                values.setdefault(name, []).extend(float(v) for v in getattr(feature, kind).value if not math.isnan(v))
    return {name: sorted(v) for name, v in values.items()}


def _close(a: float, b: float) -> bool:
    return a == b or abs(a - b) <= REL * max(abs(a), abs(b))


def _epsilon() -> float:
    """The error bound of TFDV's quantiles sketch (tfx_bsl's QuantilesSketch: a quantile's rank
    is off by at most epsilon * N), from the front's StatisticsGen's own StatsOptions."""
    import tensorflow_data_validation as tfdv

    from components import datasets
    from components.front import FrontConfig, create_front

    front = create_front(FrontConfig("/nowhere", datasets.load("taxi").schema_path))
    return tfdv.StatsOptions.from_json(front.statistics_gen.exec_properties["stats_options_json"]).epsilon


def _check_rank(name: str, value: float, target: float, values: list[float], eps: float):
    """`value` is a valid answer for the quantile of rank `target` within eps * N (GK's bound)."""
    n = len(values)
    lo, hi = bisect.bisect_left(values, value), bisect.bisect_right(values, value)
    assert lo - eps * n - 1 <= target <= hi + eps * n + 1, (
        f"{name}: {value} has rank {lo}..{hi} of {n}; the quantile's rank is {target:.1f} (bound {eps * n:.1f})")


def _check_quantiles(name: str, histogram, values: list[float], eps: float):
    """A QUANTILES histogram against the exact values: every bucket edge is a valid quantile and
    the cumulative counts at the ends of runs of equal edges are valid ranks, within eps * N."""
    n, buckets = len(values), list(histogram.buckets)
    assert buckets and _close(sum(b.sample_count for b in buckets), n), name
    edges = [buckets[0].low_value] + [b.high_value for b in buckets]
    cumulative = 0.0
    for i, edge in enumerate(edges):
        _check_rank(f"{name} edge {i}", edge, i / len(buckets) * n, values, eps)
        if i:
            cumulative += buckets[i - 1].sample_count
            if i == len(buckets) or edges[i + 1] != edge:  # equal edges share their counts evenly
                lo, hi = bisect.bisect_left(values, edge), bisect.bisect_right(values, edge)
                assert lo - eps * n - 1 <= cumulative <= hi + eps * n + 1, f"{name}: count to edge {i}"


def _check_equi_width(name: str, direct, portable, n: int, eps: float):
    """STANDARD histograms: TFDV interpolates them linearly from the same sketch's 1000
    quantiles, so their edges come from min and max (1e-9) and two runs' cumulative counts
    agree within twice (eps * N + N / 1000)."""
    assert len(direct.buckets) == len(portable.buckets), name
    tolerance = 2 * (eps * n + n / 1000) + 1
    cum_d = cum_p = 0.0
    for bd, bp in zip(direct.buckets, portable.buckets, strict=True):
        assert _close(bd.low_value, bp.low_value) and _close(bd.high_value, bp.high_value), name
        cum_d, cum_p = cum_d + bd.sample_count, cum_p + bp.sample_count
        assert abs(cum_d - cum_p) <= tolerance, f"{name}: counts to {bd.high_value}: {cum_d} vs {cum_p}"
    assert _close(cum_d, cum_p), name


def _compare_feature(name: str, direct, portable, values: list[float] | None, eps: float) -> dict:
    """Asserts two FeatureNameStatistics equal as the issue says; returns the relative
    differences of min, max, mean and std."""
    direct, portable = (type(f).FromString(f.SerializeToString()) for f in (direct, portable))  # cleared below
    kind = direct.WhichOneof("stats")
    assert kind == portable.WhichOneof("stats"), name
    differences = {}
    if kind == "num_stats":
        d, p = direct.num_stats, portable.num_stats
        for field in ("min", "max", "mean", "std_dev"):
            a, b = getattr(d, field), getattr(p, field)
            assert _close(a, b), f"{name}.{field}: {a} vs {b}"
            differences[field] = abs(a - b) / max(abs(a), abs(b), 1e-300)
        assert sorted(h.type for h in d.histograms) == sorted(h.type for h in p.histograms), name
        for hd, hp in zip(sorted(d.histograms, key=lambda h: h.type), sorted(p.histograms, key=lambda h: h.type),
                          strict=True):
            assert (hd.num_nan, hd.num_undefined) == (hp.num_nan, hp.num_undefined), name
            if hd.type == hd.QUANTILES:
                for run, histogram in (("direct", hd), ("portable", hp)):
                    _check_quantiles(f"{name} ({run})", histogram, values, eps)
            else:
                _check_equi_width(name, hd, hp, len(values), eps)
        for run, median in (("direct", d.median), ("portable", p.median)):  # the middle of 1000 quantiles
            _check_rank(f"{name} median ({run})", median, len(values) / 2, values, eps + 1 / 1000)
        for stats in (d, p):
            for field in ("min", "max", "mean", "std_dev", "median", "histograms"):
                stats.ClearField(field)
    elif kind == "string_stats":
        assert _close(direct.string_stats.avg_length, portable.string_stats.avg_length), name
        for stats in (direct, portable):
            stats.string_stats.ClearField("avg_length")
    if kind:
        cd, cp = getattr(direct, kind).common_stats, getattr(portable, kind).common_stats
        assert _close(cd.avg_num_values, cp.avg_num_values), name
        for common in (cd, cp):
            common.ClearField("avg_num_values")
    # What is left is counts and exact values (presence, valency and its histogram, zeros,
    # uniques, top values, rank histograms, types, paths): exactly equal.
    assert direct == portable, f"{name}: differs\n--- direct\n{direct}\n--- portable\n{portable}"
    return differences


def test_statistics_equal_directrunners(fronts):
    works, _ = fronts
    direct, portable = _statistics(works["direct"]), _statistics(works["portable"])
    eps = _epsilon()
    worst, quantile_checks = 0.0, 0
    for split in ("train", "eval"):
        (dd,), (pd_,) = direct[split].datasets, portable[split].datasets
        assert dd.num_examples == pd_.num_examples > 0
        assert dd.weighted_num_examples == pd_.weighted_num_examples
        values = _values(_examples(works["direct"], "CsvExampleGen", "examples", split))
        by_path_d = {tuple(f.path.step): f for f in dd.features}
        by_path_p = {tuple(f.path.step): f for f in pd_.features}
        assert by_path_d.keys() == by_path_p.keys() and len(by_path_d) == len(dd.features)
        for path, feature in by_path_d.items():
            name = f"{split}/{'.'.join(path)}"
            differences = _compare_feature(name, feature, by_path_p[path], values.get(path[-1]), eps)
            worst = max([worst, *differences.values()])
            quantile_checks += bool(differences)
    assert quantile_checks >= 10  # the numeric features of both splits had their quantiles checked
    print(f"statistics equal; the largest relative difference of min/max/mean/std: {worst:.2e}")


def _rows(paths: list[str]) -> list[tuple]:
    """TFRecord shards of tf.Examples as comparable rows: ((feature, values), ...) by name,
    sorted (a proto map's wire order is not fixed, so equal examples may differ byte for byte)."""
    from tensorflow.core.example import example_pb2

    rows = []
    for record in _records(paths):
        features = example_pb2.Example.FromString(record).features.feature
        rows.append(tuple(sorted((name, tuple(getattr(f, f.WhichOneof("kind")).value) if f.WhichOneof("kind") else ())
                                 for name, f in features.items())))
    return sorted(rows)


def _parquet_rows(paths: list[str]) -> list[tuple]:
    """Transform's Parquet shards (components/materialize.py) as rows in _rows' form, sorted."""
    import pyarrow.parquet as pq

    table = pq.read_table(paths)
    columns = {name: table.column(name).to_pylist() for name in sorted(table.column_names)}
    return sorted(tuple((name, tuple(values[i])) for name, values in columns.items()) for i in range(table.num_rows))


def test_examples_and_transform_equal_directrunners(fronts):
    """ExampleGen's rows and splits, and Transform's outputs (its analyzers are exact:
    components/analyzers.py), are the same on both engines, value for value."""
    works, _ = fronts
    for split in ("train", "eval"):
        for component, output, rows in (("CsvExampleGen", "examples", _rows),
                                        ("Transform", "transformed_examples", _parquet_rows)):
            direct = rows(_files(works["direct"], component, output, split))
            portable = rows(_files(works["portable"], component, output, split))
            assert len(direct) == len(portable) > 0, (component, split)
            assert direct == portable, f"{component} {output} {split}: {sum(map(ne, direct, portable))} rows differ"
    assets = {}
    for run, work in works.items():
        folder, = glob.glob(os.path.join(work, "root", "Transform", "transform_graph", "*", "transform_fn", "assets"))
        assets[run] = {}
        for name in sorted(os.listdir(folder)):
            with open(os.path.join(folder, name), "rb") as f:
                assets[run][name] = f.read()
    assert "analyzer_results.json" in assets["direct"]
    assert assets["direct"] == assets["portable"]  # vocabularies and analyzer results, byte for byte
