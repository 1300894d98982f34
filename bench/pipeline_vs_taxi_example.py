"""Benchmark: `tandem run tf` and `tandem run all` vs. TFX's own Chicago Taxi example,
on the same 15k rows.

    python -m bench.pipeline_vs_taxi_example

TFX's example (tfx/examples/chicago_taxi_pipeline/taxi_pipeline_native_keras.py, shipped
in the tfx wheel) runs CsvExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator
-> Transform -> Trainer -> Evaluator -> Pusher on BeamDagRunner with DirectRunner in
multi-processing mode (its own setting). Each contender runs twice in a fresh process: from
nothing, then again (cached re-run); tandem with its defaults (Beam's running mode chosen by
the input's size). `tandem run all` (both branches) gets a home of its own, so it starts from
nothing too; then `tandem compare` on it. Prints wall times, the ratios tandem / example, and
the issue's targets, met or not.
"""

import os
import subprocess
import sys
import tempfile
import time

from components.datasets.taxi import bundled_csv

TAXI_EXAMPLE = """
import os, sys
from tfx.examples.chicago_taxi_pipeline import taxi_pipeline_native_keras as example
from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner
home = sys.argv[1]
BeamDagRunner().run(example._create_pipeline(
    pipeline_name="chicago_taxi_native_keras",
    pipeline_root=os.path.join(home, "pipelines"),
    data_root=sys.argv[2],
    module_file=os.path.join(os.path.dirname(example.__file__), "taxi_utils_native_keras.py"),
    serving_model_dir=os.path.join(home, "serving_model"),
    metadata_path=os.path.join(home, "metadata.db"),
    beam_pipeline_args=example._beam_pipeline_args))
"""


def timed(command: list[str], log_path: str, env: dict | None = None) -> float:
    start = time.perf_counter()
    with open(log_path, "ab") as log:
        result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, **env} if env else None)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} failed; see {log_path}")
    return time.perf_counter() - start


def main():
    work = tempfile.mkdtemp(prefix="tandem-bench-pipeline-")
    example_home = os.path.join(work, "example")
    data_root = os.path.dirname(bundled_csv(work))
    contenders = {
        "TFX taxi example": [sys.executable, "-c", TAXI_EXAMPLE, example_home, data_root],
        "tandem run tf": [sys.executable, "-m", "tandem.cli", "run", "tf", "--home", os.path.join(work, "tf")],
        "tandem run all": [sys.executable, "-m", "tandem.cli", "run", "all", "--home", os.path.join(work, "all")],
    }
    # TFX's example leaves its user-code wheels and sdist builds in the temporary folder: give
    # it one inside `work` (tandem removes its own).
    example_tmp = os.path.join(work, "example-tmp")
    os.makedirs(example_tmp)
    envs = {"TFX taxi example": {"TMPDIR": example_tmp}}
    times = {}
    for name, command in contenders.items():
        for attempt in ("first run", "cached re-run"):
            times[name, attempt] = timed(command, os.path.join(work, f"{name.replace(' ', '-')}.log"), envs.get(name))
            print(f"  {name:<18} {attempt:<14} {times[name, attempt]:7.1f} s", flush=True)
    print(f"\n{'':<18} | {'first run':>10} | {'cached re-run':>13}")
    for name in contenders:
        print(f"{name:<18} | {times[name, 'first run']:8.1f} s | {times[name, 'cached re-run']:11.1f} s")
    for name in list(contenders)[1:]:
        ratio = [times[name, a] / times["TFX taxi example", a] for a in ("first run", "cached re-run")]
        print(f"{name.split(' ', 1)[1] + ' / example':<18} | {ratio[0]:9.2f}x | {ratio[1]:12.2f}x")
    compare = timed([sys.executable, "-m", "tandem.cli", "compare", "--home", os.path.join(work, "all"),
                     "--out", os.path.join(work, "reports")], os.path.join(work, "compare.log"))
    first, cached = times["tandem run all", "first run"], times["tandem run all", "cached re-run"]
    example = times["TFX taxi example", "first run"]
    print(f"tandem compare    | {compare:8.1f} s |")
    print("\ntargets (issue: performance and scale):")
    for what, value, limit, unit in (
            ("tandem run all / example's first run", first / example, 0.5, "x"),
            ("tandem run all, fully cached re-run", cached, 10.0, " s"),
            ("tandem run all + tandem compare", first + compare, 60.0, " s")):
        print(f"  {what:<40} {value:7.2f}{unit:<2} (target <= {limit:g}{unit.strip()}): "
              + ("met" if value <= limit else "NOT met"))
    print(f"\nmachine: {os.cpu_count()} cores; logs and outputs in {work}")


if __name__ == "__main__":
    main()
