"""`tandem predict`: score a CSV in-process with the newest pushed model, no server.

    tandem predict tf|torch --data CSV --out FILE

The very model the servers load, with the same contract (an empty cell is missing: NaN for
a number, "" for a string): tf with the SavedModel's serving_default in this process; torch
with the archive's TorchScript model in a PyTorch-only child process (python -m
pipelines.torch_branch.runtime.predict), so that `tandem predict torch` never imports
TensorFlow. Writes a CSV with one `probability` column, in the input's row order.
"""


import csv
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import zipfile

from serving import client
from serving.contract import CONTRACT_FILE, NUMBER, STRING
from tandem.commands.query import _quiet_native
from tandem.exits import OK, Failed, UsageError
from tandem.inputs import dataset

CHUNK_ROWS = 100_000  # rows read at a time (and a progress line on stderr after each)
TORCH_PART_ROWS = 1_000_000  # rows per PyTorch child process (one model load each)
TF_BATCH = 16_384  # rows per serving_default call


def predict(args) -> int:
    from tandem.commands.serving import pushed_versions

    data = dataset(args)
    source, out = _check_csv(args.data), _check_out(args.out, args.data)
    header = _header(source)
    _check_columns(args, header, data.contract(), f"the {data.name} dataset's model")
    home = os.path.abspath(args.home)
    found = pushed_versions(home, args.target, data.model_name)
    if not found:
        raise UsageError(f"no {data.model_name} model of the {args.target} branch is pushed under {home}: "
                         f"run `tandem run {args.target}` first")
    version = max(found)
    start = time.time()
    with tempfile.TemporaryDirectory(prefix="tandem-predict-") as work:
        if args.target == "tf":
            with _quiet_native(args.verbose):
                scorer = _TfScorer(found[version])
        else:
            scorer = _TorchScorer(found[version], work)
        features = scorer.features  # what the pushed model itself reads
        _check_columns(args, header, features, f"the pushed {args.target} model")
        partial = f"{out}.partial-{os.getpid()}"
        try:
            with open(partial, "w", newline="") as f:
                f.write("probability\n")
                rows = scorer.run(_chunks(source, features, args.data), f)
            os.replace(partial, out)
        finally:
            if os.path.exists(partial):
                os.remove(partial)
    print(f"tandem: scored {rows:,} row(s) with the {args.target} model {data.model_name} version {version} "
          f"in {time.time() - start:.1f}s: {out}")
    return OK


def _check_csv(path: str) -> str:
    full = os.path.abspath(path)
    if os.path.isdir(full):
        raise UsageError(f"--data {path}: a folder; give one CSV file")
    if not os.path.isfile(full):
        raise UsageError(f"--data {path}: no such file")
    if not os.access(full, os.R_OK):
        raise UsageError(f"--data {path}: the file is not readable")
    return full


def _check_out(path: str, data: str) -> str:
    full = os.path.abspath(path)
    if os.path.isdir(full):
        raise UsageError(f"--out {path}: a folder; give the file to write")
    if not os.path.isdir(os.path.dirname(full)):
        raise UsageError(f"--out {path}: no such folder {os.path.dirname(full)}")
    if not os.access(os.path.dirname(full), os.W_OK):
        raise UsageError(f"--out {path}: its folder is not writable")
    if os.path.exists(full) and os.path.samefile(full, os.path.abspath(data)):
        raise UsageError(f"--out {path}: the same file as --data")
    return full


def _check_columns(args, header: list[str], features: dict, reader: str) -> None:
    missing = [name for name in features if name not in header]
    if missing:
        raise UsageError(f"--data {args.data}: no column {missing[0]!r}"
                         + (f" (nor {', '.join(map(repr, missing[1:]))})" if missing[1:] else "")
                         + f"; {reader} reads: {', '.join(features)}")


def _header(path: str) -> list[str]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            return next(csv.reader(f), [])
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise UsageError(f"--data {path}: cannot read it as CSV ({error})") from None


def _chunks(path: str, features: dict, shown: str):
    """Column chunks of the CSV: {feature: numpy array}, float64 numbers (NaN = an empty
    cell) and unicode strings ("" = an empty cell), CHUNK_ROWS rows at a time. A row with
    another number of fields than the header, or a number cell that is not a finite
    number, is a usage error naming its data row (counted from 1, blank lines skipped)."""
    row = 0
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader)
            where = [header.index(name) for name in features]
            chunk = []
            for fields in reader:
                if not fields:
                    continue
                row += 1
                if len(fields) != len(header):
                    raise UsageError(f"--data {shown}: data row {row} has {len(fields)} fields, the header "
                                     f"{len(header)}")
                chunk.append(fields)
                if len(chunk) == CHUNK_ROWS:
                    yield _columns(chunk, features, where, row - len(chunk) + 1, shown)
                    chunk = []
            if chunk:
                yield _columns(chunk, features, where, row - len(chunk) + 1, shown)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise UsageError(f"--data {shown}: cannot read it as CSV, at data row {row + 1} ({error})") from None


def _columns(chunk: list[list[str]], features: dict, where: list[int], first_row: int, shown: str) -> dict:
    import numpy as np

    cells = list(zip(*chunk, strict=True))
    columns = {}
    for (name, kind), i in zip(features.items(), where, strict=True):
        text = cells[i]
        if kind == STRING:
            columns[name] = np.array(text, dtype=str)
            continue
        try:  # Python's float(): correctly rounded, as the servers' JSON parsers
            values = np.array([float(v) if v else math.nan for v in text], dtype=np.float64)
        except ValueError:
            values = np.array([_float_or_nan(v) for v in text], dtype=np.float64)
        bad = np.flatnonzero(np.isinf(values))
        nan = np.flatnonzero(np.isnan(values))
        bad = [int(at) for at in bad] + [int(at) for at in nan if text[at].strip().lower() not in ("", "nan")]
        if bad:
            at = min(bad)
            raise UsageError(f"--data {shown}: data row {first_row + at}: {name} is not a finite number: "
                             f"{text[at]!r}")
        columns[name] = values
    return columns


def _float_or_nan(text: str) -> float:
    try:
        return float(text) if text else math.nan
    except ValueError:
        return math.nan  # not a number: _chunks names it


def _progress(rows: int, what: str) -> None:
    print(f"tandem: {rows:,} rows {what}", file=sys.stderr, flush=True)


def _write(f, probabilities) -> None:
    f.writelines(f"{float(p):.9g}\n" for p in probabilities)


class _TfScorer:
    """The SavedModel's serving_default, in this process: what TF Serving runs."""

    def __init__(self, path: str):
        import tensorflow as tf

        self.tf = tf
        self.fn = tf.saved_model.load(path).signatures["serving_default"]
        _, inputs = self.fn.structured_input_signature
        self.features = {name: STRING if spec.dtype == tf.string else NUMBER for name, spec in inputs.items()}

    def run(self, chunks, f) -> int:
        rows = 0
        for columns in chunks:
            count = len(next(iter(columns.values())))
            for start in range(0, count, TF_BATCH):
                tensors = {name: self.tf.constant(values[start:start + TF_BATCH]) for name, values in columns.items()}
                _write(f, self.fn(**tensors)[client.OUTPUT_KEY].numpy().reshape(-1))
            rows += count
            if count == CHUNK_ROWS:
                _progress(rows, "scored")
        return rows


class _TorchScorer:
    """The archive's TorchScript model, in PyTorch-only child processes: what TorchServe runs."""

    def __init__(self, mar: str, work: str):
        self.work = work
        try:
            with zipfile.ZipFile(mar) as archive:
                manifest = json.loads(archive.read("MAR-INF/MANIFEST.json"))
                model_file = manifest.get("model", {}).get("serializedFile") or "model.pt"
                archive.extract(model_file, work)
                contract = json.loads(archive.read(CONTRACT_FILE))
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
            raise Failed(f"cannot read the pushed archive {mar}: {error}") from None
        self.model = os.path.join(work, model_file)
        self.features = dict(contract["features"])

    def run(self, chunks, f) -> int:
        rows, part, held = 0, [], 0
        for columns in chunks:
            count = len(next(iter(columns.values())))
            part.append(columns)
            rows, held = rows + count, held + count
            if held >= TORCH_PART_ROWS:
                _write(f, self._score(part))
                part, held = [], 0
                _progress(rows, "scored")
            elif count == CHUNK_ROWS:
                _progress(rows, "read")
        if part:
            _write(f, self._score(part))
        return rows

    def _score(self, part: list[dict]):
        import numpy as np

        rows, out = os.path.join(self.work, "rows.npz"), os.path.join(self.work, "predictions.npz")
        np.savez(rows, **{name: np.concatenate([c[name] for c in part]) for name in self.features})
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tandem's packages
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        done = subprocess.run([sys.executable, "-m", "pipelines.torch_branch.runtime.predict", "--rows", rows,
                               "--out", out, f"p={self.model}"], capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise Failed(f"the PyTorch scoring process failed (exit {done.returncode}): "
                         + (done.stderr.strip().splitlines() or ["no message"])[-1])
        with np.load(out) as predictions:
            return predictions["p"]
