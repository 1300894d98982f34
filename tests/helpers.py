"""Test helpers: the taxi dataset's checked-in sample, and ways to write corrupted copies of it;
Transform outputs made by hand, for the PyTorch trainer."""

import contextlib
import csv
import dataclasses
import json
import os
import subprocess
import sys

import numpy as np

from components import datasets
from components import features as F
from components.analyzer_results import ASSET_FILE, ASSET_KEY

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TAXI = datasets.load("taxi")
SAMPLE_CSV = TAXI.sample_path

# Empty cells in typed columns, a column with no value at all, floats that float32 rounds,
# overflows or underflows, an integer past int64 (a string column then), a column of mixed
# kinds, quoted commas, quotes and a line break inside a record, non-ASCII text, blank lines.
EDGE_CSV = """\
count,amount,name,nothing,mixed,big,huge_among_floats,note
1,1.5,x,,1,99999999999999999999,1.5,"line one
line two, with a comma"
,nan,,,2.5,1,,""
3,1e40,über,,abc,2,-99999999999999999999,plain

-4,-0.0,y,,,3,2,"a ""quoted"" word"
7,0.1,z,,-3,-9223372036854775808,1e30,
8,1e-46,,,1e3,4,nan,x
9,-inf,w,,,5,3,y
"""


def example_gen_do(executor, out: str, csv: str = SAMPLE_CSV, statistics_options=None):
    """An ExampleGen executor's Do on one CSV file, split 4:1 as the front splits, as TFX's
    launcher calls it (with the custom config ingest.example_gen gives it): the Examples
    artifact written under `out`."""
    from tfx.proto import example_gen_pb2
    from tfx.types import artifact_utils, standard_artifacts
    from tfx.utils import proto_utils

    from components import ingest

    examples = standard_artifacts.Examples()
    examples.uri = out
    executor.Do({}, {"examples": [examples]}, {
        "input_base": os.path.dirname(csv),
        "input_config": proto_utils.proto_to_json(example_gen_pb2.Input(splits=[
            example_gen_pb2.Input.Split(name="single_split", pattern=os.path.basename(csv))])),
        "output_config": proto_utils.proto_to_json(ingest.split_config((4, 1))),
        "output_data_format": example_gen_pb2.FORMAT_TF_EXAMPLE,
        "output_file_format": example_gen_pb2.FORMAT_TFRECORDS_GZIP,
        "custom_config": proto_utils.proto_to_json(ingest.custom_config(statistics_options)),
    })
    examples.split_names = artifact_utils.encode_split_names(["train", "eval"])
    return examples


def read_rows(path: str = SAMPLE_CSV) -> tuple[list[str], list[dict]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames), list(reader)


def write_rows(path, header: list[str], rows: list[dict]) -> str:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


def json_rows(dataset=TAXI, count: int = 32, path: str | None = None) -> list[dict]:
    """Sample rows as a client sends them (serving/contract.py): every feature, null if missing."""
    _, rows = read_rows(path or dataset.sample_path)
    return [{n: (r[n] if dataset.is_string(n) else (float(r[n]) if r[n] else None)) for n in dataset.serving_features}
            for r in rows[:count]]


def tandem(*args: str, timeout: float = 900, env: dict | None = None) -> subprocess.CompletedProcess:
    """`tandem ...` as users run it, in a process of its own (`env`: added to this one's)."""
    return subprocess.run([sys.executable, "-m", "tandem.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **env} if env else None)


def versions(folder: str) -> list[str]:
    """What a server would load from a push folder: TF Serving's numbered versions, or .mar files."""
    if not os.path.isdir(folder):
        return []
    return sorted(n for n in os.listdir(folder) if n.isdigit() or (n.endswith(".mar") and not n.startswith(".")))


def run_all(home: str, *extra: str, train_steps: str = "300", env: dict | None = None) -> subprocess.CompletedProcess:
    """`tandem run all` on the taxi sample (small: Beam in the tandem process)."""
    return tandem("run", "all", "--data", SAMPLE_CSV, "--home", home, "--train-steps", train_steps, *extra, env=env)


def child_processes(pid: int) -> list[int]:
    """The processes `pid` started, and theirs, that are still there (Linux: /proc/PID/task/*/children)."""
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            for child in map(int, f.read().split()):
                found.append(child)
                with contextlib.suppress(OSError):
                    found += child_processes(child)
    return found


def write_transformed_split(folder, columns: dict) -> list[str]:
    """In-memory transformed columns ({name: [rows] array}) as the Transform writes a split:
    a Parquet shard, a list column per feature (components/materialize.py); its file
    pattern, as TFX's FnArgs names a split's files."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    os.makedirs(folder, exist_ok=True)
    table = pa.table({name: pa.array([[v] for v in values.tolist()],
                                     pa.large_list(pa.from_numpy_dtype(values.dtype)))
                      for name, values in columns.items()})
    pq.write_table(table, os.path.join(folder, "transformed_examples-00000-of-00001.parquet"))
    return [os.path.join(str(folder), "*")]


TOKENS = 6  # per vocabulary of handmade_transform_output


def handmade_transform_output(folder) -> tuple[str, dict[str, int]]:
    """(the TransformGraph folder, one-hot width per categorical feature)."""
    assets = folder / "transform_fn" / "assets"
    assets.mkdir(parents=True)
    (folder / "transformed_metadata").mkdir()
    results: dict = {"mean": {}, "var": {}, "boundaries": {}, "size": {}}
    asset_map = {ASSET_KEY: ASSET_FILE}
    for f in TAXI.features:
        if isinstance(f, F.Numeric):
            results["mean"][f.name], results["var"][f.name] = 1.5, 0.25
        elif isinstance(f, F.Ordinal):
            results["size"][f.name] = f.high - f.low + 2  # the range, and out of range
        elif isinstance(f, F.Vocabulary):
            tokens = [str(i) if f.dtype == F.INT else f"{f.name}-{i}" for i in range(TOKENS)]
            asset_map[F.vocabulary_name(f.name)] = F.vocabulary_name(f.name)
            (assets / F.vocabulary_name(f.name)).write_text("".join(t + "\n" for t in tokens))
            results["size"][f.name] = TOKENS + 1  # and out of vocabulary
        else:
            results["boundaries"][f.name] = [-1.0, 0.0, 1.0]
            results["size"][f.name] = 3 + 2  # 4 buckets, and missing
    (assets / ASSET_FILE).write_text(json.dumps(results))
    (folder / "transformed_metadata" / "asset_map").write_text(json.dumps(asset_map))
    return str(folder), results["size"]


def transformed_split(rows: int, sizes: dict[str, int], rng) -> dict[str, np.ndarray]:
    """A transformed split's columns; the label follows two features, so the
    model has something to learn."""
    columns = {F.transformed_name(f.name): rng.standard_normal(rows).astype(np.float32) if isinstance(f, F.Numeric)
               else rng.integers(0, sizes[f.name], rows) for f in TAXI.features}
    signal = columns["fare_xf"] + (columns["payment_type_xf"] == 0)
    columns[TAXI.label.name] = (signal + 0.5 * rng.standard_normal(rows) > 0.5).astype(np.int64)
    return columns


def run_torch_trainer(train_files: list[str], eval_files: list[str], transform_dir: str, out, config,
                      hide_cuda: bool = True) -> dict:
    """The PyTorch trainer's process, as run_fn starts it, on a taxi Transform output (`config`: a
    TrainConfig): its model in out/model, its logs and report in `out`; the report. hide_cuda:
    on the CPU even where a GPU is."""
    from pipelines.torch_branch.runtime import TRAIN_MODULE, train_args

    done = subprocess.run([sys.executable, "-m", TRAIN_MODULE,
                           *train_args(train_files, eval_files, transform_dir, TAXI.name, str(out / "model"), str(out),
                                       json.dumps(dataclasses.asdict(config)))],
                          cwd=REPO, env={**os.environ, **({"CUDA_VISIBLE_DEVICES": ""} if hide_cuda else {})},
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])
