"""Benchmark: ingest + validation throughput, tandem's shared front vs. two baselines.

    python -m bench.ingest_validate [--rows 10000 100000 1000000] [--only a c] [--work DIR]

For each size, on data generated from the real sample (components/data.generate), in
one run and on one machine, it times:
  (a) tfdv.generate_statistics_from_csv on the CSV (statistics only, in-process Beam)
  (b) TFX's default front: CsvExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator
  (c) tandem's front up to the gate: CsvExampleGen -> StatisticsGen -> ImportSchemaGen
      -> ExampleValidator -> AnomaliesGate
All compute full (unsampled) statistics; (b) and (c) run on LocalDagRunner with Beam's
DirectRunner, caching off: (b) in multi-processing mode (one worker per core), (c) in the
mode `tandem run` picks for the input's size (pipelines/config.py: local_beam_args). It
prints one table with rows/s, the ratios c/a and c/b (> 1 means tandem took longer), and the
issue's targets: tandem's throughput >= 0.5x TFDV's at 1e4 rows, >= 0.7x at 1e5 and 1e6.

Scale: each contender runs in a process of its own, and the peak memory of that process and
all it starts (Beam's workers; the sum of their resident sets, sampled every 0.2 s) is
printed beside its time; so is the marginal cost per row between consecutive sizes, which
stays flat where the cost grows linearly (e.g. --rows 100000 1000000 10000000 --only a c).
"""

import argparse
import contextlib
import json
import os
import shutil
import tempfile
import threading
import time

import psutil
import tensorflow_data_validation as tfdv
from tfx import v1 as tfx

from components import data, datasets, ingest
from components.front import FrontConfig, create_front
from components.validate import stage_schema
from pipelines.child import ChildProcessFailed, run_module
from pipelines.config import LOCAL_BEAM_ARGS, local_beam_args
from pipelines.home import temporary_folder
from pipelines.runner import run_pipeline

TAXI = datasets.load("taxi")
TARGETS = {10_000: 0.5, 100_000: 0.7, 1_000_000: 0.7}  # tandem's throughput / TFDV's, at least


def _pipeline(name, work, components, beam_args):
    return tfx.dsl.Pipeline(
        pipeline_name=name, pipeline_root=os.path.join(work, name), components=components,
        enable_cache=False, beam_pipeline_args=list(beam_args),
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            os.path.join(work, f"{name}.sqlite")))


def tfdv_only(csv_path, work):
    tfdv.generate_statistics_from_csv(csv_path, output_path=os.path.join(work, "stats.tfrecord"))


def tfx_default_front(csv_path, work):
    example_gen = ingest.example_gen(os.path.dirname(csv_path), os.path.basename(csv_path), (4, 1))
    stats = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema = tfx.components.SchemaGen(statistics=stats.outputs["statistics"])
    validator = tfx.components.ExampleValidator(statistics=stats.outputs["statistics"], schema=schema.outputs["schema"])
    with temporary_folder():  # TFX's sdists and Beam's leftovers
        run_pipeline(_pipeline("tfx-default", work, [example_gen, stats, schema, validator], LOCAL_BEAM_ARGS),
                     echo=lambda _: None)


def tandem_front(csv_path, work):
    schema = stage_schema(TAXI.schema_path, os.path.join(work, "schema"))
    front = create_front(FrontConfig(os.path.dirname(csv_path), schema, input_pattern=os.path.basename(csv_path),
                                     dataset=TAXI.name))
    front.transform.remove_upstream_node(front.gate)  # measure up to the gate, without Transform
    components = [c for c in front.components() if c is not front.transform]
    beam_args = local_beam_args(os.path.getsize(csv_path))
    with temporary_folder():
        run_pipeline(_pipeline("tandem-front", work, components, beam_args), echo=lambda _: None)


CONTENDERS = {"a: tfdv on CSV": tfdv_only, "b: TFX default front": tfx_default_front, "c: tandem front": tandem_front}


class PeakMemory:
    """The largest sum of resident memory of this process's descendants, sampled in a thread."""

    def __init__(self, every: float = 0.2):
        self.peak, self._every, self._stop = 0, every, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        me = psutil.Process()
        while not self._stop.wait(self._every):
            total = 0
            for child in me.children(recursive=True):
                with contextlib.suppress(psutil.Error):  # ended between listing and reading
                    total += child.memory_info().rss
            self.peak = max(self.peak, total)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def measure(name: str, csv_path: str, work: str) -> tuple[float | None, int, str | None]:
    """(seconds, peak bytes, None) of one contender, run in a process of its own; (None, peak
    bytes, why) if it failed (the kernel's OOM killer, say: exit -9)."""
    with PeakMemory() as memory:
        try:
            out = run_module(__spec__.name, "--child", name, "--csv", csv_path, "--work", work, what=name)
        except ChildProcessFailed as failed:
            return None, memory.peak, str(failed)
    return json.loads(out.strip().splitlines()[-1])["seconds"], memory.peak, None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--work", default=None, help="scratch folder (default: a temp folder, removed after)")
    parser.add_argument("--only", nargs="+", choices=[n[0] for n in CONTENDERS], default=[n[0] for n in CONTENDERS],
                        help="run these contenders (by letter) only")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # one contender in this process (see `measure`)
    parser.add_argument("--csv", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        start = time.perf_counter()
        CONTENDERS[args.child](args.csv, args.work)
        print(json.dumps({"seconds": time.perf_counter() - start}))
        return
    contenders = [n for n in CONTENDERS if n[0] in args.only]
    work_root = args.work or tempfile.mkdtemp(prefix="tandem-bench-")
    results, peaks, failures = {}, {}, {}
    try:
        for rows in args.rows:
            csv_dir = os.path.join(work_root, f"data-{rows}")
            os.makedirs(csv_dir, exist_ok=True)
            csv_path = data.generate(TAXI, TAXI.bundled_csv(work_root), rows, os.path.join(csv_dir, "trips.csv"),
                                     seed=rows)
            for name in contenders:
                if name in failures:  # it failed on fewer rows
                    results[rows, name], peaks[rows, name] = None, None
                    continue
                work = tempfile.mkdtemp(dir=work_root)
                results[rows, name], peaks[rows, name], failed = measure(name, csv_path, work)
                seconds = "failed" if failed else f"{results[rows, name]:8.1f} s"
                print(f"  {rows:>9,} rows  {name:<22} {seconds}, peak memory {peaks[rows, name] / 2**30:5.2f} GiB"
                      + (f": {failed}" if failed else ""), flush=True)
                if failed:
                    failures[name] = f"{rows:,} rows: {failed}"
                shutil.rmtree(work, ignore_errors=True)
    finally:
        if not args.work:
            shutil.rmtree(work_root, ignore_errors=True)
    report(args.rows, contenders, results, peaks, failures)


def report(sizes: list[int], contenders: list[str], results: dict, peaks: dict, failures: dict):
    def ratio(rows, a, b):  # contender a's seconds over b's ("-" where either failed)
        x, y = results[rows, a], results[rows, b]
        return f"{x / y:4.2f}" if x and y else "   -"

    pairs = [(c, a) for c, a in (("c: tandem front", "a: tfdv on CSV"), ("c: tandem front", "b: TFX default front"))
             if c in contenders and a in contenders]
    print(f"\n{'rows':>10} | " + " | ".join(f"{n:>22}" for n in contenders)
          + "".join(f" | {c[0]}/{a[0]}" for c, a in pairs))
    print("-" * (12 + 25 * len(contenders) + 7 * len(pairs)))
    for rows in sizes:
        cells = [f"{results[rows, n]:7.1f} s {rows / results[rows, n]:>8,.0f}/s" if results[rows, n] else "failed"
                 for n in contenders]
        print(f"{rows:>10,} | " + " | ".join(f"{x:>22}" for x in cells)
              + "".join(f" | {ratio(rows, c, a)}" for c, a in pairs))
    if ("c: tandem front", "a: tfdv on CSV") in pairs:
        print("\ntargets (tandem's throughput / TFDV's = a/c):")
        for rows in sizes:
            target = TARGETS.get(rows)
            met = "" if not target else f" (target >= {target}x): " + (
                "met" if results[rows, "c: tandem front"] and
                results[rows, "a: tfdv on CSV"] / results[rows, "c: tandem front"] >= target else "NOT met")
            print(f"  {rows:>10,} rows: {ratio(rows, 'a: tfdv on CSV', 'c: tandem front')}x{met}")
    print("\npeak memory (GiB; the contender's process and its workers) and the marginal cost per row (µs; "
          "the extra seconds over the extra rows since the size before):")
    print(f"{'rows':>10} | " + " | ".join(f"{n:>22}" for n in contenders))
    for previous, rows in zip([None] + sizes, sizes, strict=False):  # (None, first), (first, second), ...
        cells = []
        for n in contenders:
            marginal = ""
            if previous and results[rows, n] and results[previous, n]:
                marginal = f"{(results[rows, n] - results[previous, n]) / (rows - previous) * 1e6:6.1f} µs/row"
            memory = f"{peaks[rows, n] / 2**30:5.2f} GiB" if peaks[rows, n] is not None else "-"
            cells.append(f"{memory} {marginal:>13}")
        print(f"{rows:>10,} | " + " | ".join(f"{x:>22}" for x in cells))
    for name, why in failures.items():
        print(f"failed: {name} at {why}")
    print(f"\nmachine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB")


if __name__ == "__main__":
    main()
