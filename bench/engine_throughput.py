"""Benchmark: the shared front on Beam's DirectRunner vs. on a multi-process engine.

    python -m bench.engine_throughput [--rows 1000000] [--workers 0] [--work DIR]

On data generated from the taxi sample (components/data.generate), it runs tandem's whole
front (CsvExampleGen -> StatisticsGen -> ImportSchemaGen -> ExampleValidator -> gate ->
Transform; caching off) twice, on one machine:
  direct    LocalDagRunner + Beam's DirectRunner, multi_processing, one worker per core
            (tandem's local default)
  portable  LocalDagRunner submitting every Beam-based component to a job service in a
            process of its own, whose SDK workers run in an EXTERNAL worker pool's processes
            (pipelines/engine.py; the `portable` preset of pipelines/runners.py); the
            benchmark starts both before the run and ends them after
and prints one table: each engine's seconds and rows/s for the front and for its statistics
(CsvExampleGen + StatisticsGen: on DirectRunner ExampleGen computes them, on the engine
StatisticsGen does), its seconds for each Beam component, and the ratios portable/direct.
--workers: SDK workers per job on the engine (0: one per core, as DirectRunner's).
"""

import argparse
import glob
import os
import resource
import shutil
import tempfile
from contextlib import contextmanager, suppress

from tfx import v1 as tfx

from components import data, datasets
from components.front import FrontConfig, create_front
from components.validate import stage_schema
from pipelines.config import LOCAL_BEAM_ARGS
from pipelines.engine import local_engine
from pipelines.home import temporary_folder
from pipelines.runner import run_pipeline

BEAM_COMPONENTS = ("CsvExampleGen", "StatisticsGen", "Transform")  # the front's Beam pipelines


def front_pipeline(csv_path: str, work: str, beam_args) -> tfx.dsl.Pipeline:
    """tandem's front on `csv_path` (the taxi dataset), caching off, outputs under `work`."""
    dataset = datasets.load("taxi")
    schema = stage_schema(dataset.schema_path, os.path.join(work, "schema"))
    front = create_front(FrontConfig(os.path.dirname(csv_path), schema, input_pattern=os.path.basename(csv_path),
                                     dataset="taxi"))
    return tfx.dsl.Pipeline(
        pipeline_name="engine-front", pipeline_root=os.path.join(work, "root"), components=front.components(),
        enable_cache=False, beam_pipeline_args=list(beam_args),
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            os.path.join(work, "metadata.sqlite")))


def run_front(csv_path: str, work: str, beam_args) -> dict:
    """Run the front; returns {"seconds": total, component id: seconds, ...}."""
    times = {}

    def echo(line):  # "[  12.3s] StatisticsGen   done in 4.5s"
        words = line.split()
        if "done in" in line:
            times[words[-4]] = float(words[-1].rstrip("s"))

    with temporary_folder():  # TFX's sdists and Beam's leftovers
        times["seconds"] = run_pipeline(front_pipeline(csv_path, work, beam_args), echo=echo)
    return times


def statistics_files(work: str) -> dict[str, str]:
    """{split: FeatureStats.pb} of the front's StatisticsGen run under `work`."""
    found = glob.glob(os.path.join(work, "root", "StatisticsGen", "statistics", "*", "Split-*", "FeatureStats.pb"))
    return {os.path.basename(os.path.dirname(p)).removeprefix("Split-"): p for p in found}


def generate(rows: int, folder: str) -> str:
    dataset = datasets.load("taxi")
    source = dataset.bundled_csv(os.path.join(folder, "bundled"))
    return data.generate(dataset, source, rows, os.path.join(folder, "data", "trips.csv"), seed=rows)


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _workers_cpu(pool: int | None) -> float:
    """CPU seconds of the SDK workers so far: DirectRunner's are this process's children, reaped
    when they end; the pool's are its children, ended ones included (it never reaps them)."""
    if pool is None:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime
    total = 0.0
    for entry in filter(str.isdigit, os.listdir("/proc")):
        with suppress(OSError, IndexError), open(f"/proc/{entry}/stat") as f:
            if int(f.read().rsplit(")", 1)[1].split()[1]) == pool:
                total += _cpu_seconds(int(entry))
    return total


@contextmanager
def measured(results: dict, name: str, engine=None):
    """results[name]: over the block, the CPU seconds of the Beam runner's process (this one on
    DirectRunner, which also submits; this one and the job service on the engine) and of the SDK
    workers, and the machine's 1-minute load average before and after (other work on the machine
    slows either run)."""
    runners = [os.getpid()] + ([engine.job_service.pid] if engine else [])
    pool = engine.worker_pool.pid if engine else None
    before, workers, load = sum(map(_cpu_seconds, runners)), _workers_cpu(pool), os.getloadavg()[0]
    results[name] = {}
    yield
    results[name].update(runner_cpu=sum(map(_cpu_seconds, runners)) - before, workers_cpu=_workers_cpu(pool) - workers,
                         load=(load, os.getloadavg()[0]))
    print(f"  {name:<9} {results[name]['seconds']:8.1f} s", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=0, help="SDK workers per job on the engine (0: one per core)")
    parser.add_argument("--work", default=None, help="scratch folder (default: a temp folder, removed after)")
    args = parser.parse_args()
    work_root = args.work or tempfile.mkdtemp(prefix="tandem-bench-engine-")
    results = {}
    try:
        csv_path = generate(args.rows, work_root)
        print(f"data: {args.rows:,} rows, {os.path.getsize(csv_path) / 1e6:.0f} MB", flush=True)
        with measured(results, "direct"):
            results["direct"].update(run_front(csv_path, os.path.join(work_root, "direct"), LOCAL_BEAM_ARGS))
        with local_engine(args.workers, os.path.join(work_root, "engine-logs")) as engine:
            workers = engine.parallelism
            with measured(results, "portable", engine):
                results["portable"].update(run_front(csv_path, os.path.join(work_root, "portable"),
                                                     engine.beam_args))
    finally:
        if not args.work:
            shutil.rmtree(work_root, ignore_errors=True)
    print(f"\n{args.rows:,} rows; seconds, and rows/s for the front and for its statistics (ExampleGen + "
          "StatisticsGen: on DirectRunner, ExampleGen computes the statistics as it writes the splits and "
          "StatisticsGen takes them, components/statistics.py)")
    header = (f"{'engine':<18} | {'front s':>8} | {'rows/s':>8} | {'EG+SG s':>8} | {'rows/s':>8} | "
              f"{'ExampleGen s':>12} | {'StatsGen s':>10} | {'Transform s':>11}")
    print(header)
    print("-" * len(header))
    for times in results.values():
        times["statistics"] = times["CsvExampleGen"] + times["StatisticsGen"]
    for name, times in results.items():
        print(f"{name:<18} | {times['seconds']:8.1f} | {args.rows / times['seconds']:8,.0f} | "
              f"{times['statistics']:8.1f} | {args.rows / times['statistics']:8,.0f} | "
              f"{times['CsvExampleGen']:12.1f} | {times['StatisticsGen']:10.1f} | {times['Transform']:11.1f}")
    if len(results) == 2:
        d, p = results["direct"], results["portable"]

        def ratio(a: float, b: float, width: int) -> str:  # "-" where the time is next to nothing
            return f"{a / b:{width}.2f}" if min(a, b) >= 0.05 else f"{'-':>{width}}"
        print(f"{'portable / direct':<18} | {ratio(p['seconds'], d['seconds'], 8)} | "
              f"{ratio(d['seconds'], p['seconds'], 8)} | {ratio(p['statistics'], d['statistics'], 8)} | "
              f"{ratio(d['statistics'], p['statistics'], 8)} | {ratio(p['CsvExampleGen'], d['CsvExampleGen'], 12)} | "
              f"{ratio(p['StatisticsGen'], d['StatisticsGen'], 10)} | {ratio(p['Transform'], d['Transform'], 11)}")
    print("\nCPU seconds of the runner's process(es) and of the SDK workers; the machine's load (1-minute "
          "average, before -> after):")
    for name, times in results.items():
        runner = "submitter+runner" if name == "direct" else "submitter + job service"
        print(f"  {name:<9} {runner}: {times['runner_cpu']:5.0f}   SDK workers: {times['workers_cpu']:5.0f}   "
              f"load {times['load'][0]:.1f} -> {times['load'][1]:.1f}")
    print(f"\nmachine: {os.cpu_count()} cores. direct: DirectRunner, multi_processing, one SDK worker process per "
          f"core; portable: a job service and an EXTERNAL worker pool, separate processes (pipelines/engine.py), "
          f"{workers} SDK worker processes per job. The ratio row: times portable/direct (> 1: the engine is "
          "slower), rows/s portable/direct (< 1: the engine is slower).")

if __name__ == "__main__":
    main()
