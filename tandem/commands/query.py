"""`tandem query`: ask a served model.

    tandem query tf|torch [--grpc] [--url URL] [--file rows.json | --row k=v ...] [--json]

Sends raw rows, the request contract's (serving/contract.py), to the server `tandem serve`
started under --home (its registry), or to --url, else to the servers' default ports;
prints one probability per row beside the row's first features, or the answer's JSON
(--json). Rows come from --file ({"instances": [...]} or a list of rows; "-" reads stdin),
from --row (FEATURE=VALUE pairs: a number feature's value is parsed as a number, empty or
`null` for missing; a string feature's value is taken as it is; features not given are
null), or else are the first rows of the dataset's sample. TorchServe's token comes from
the key file the registry names (for the server `tandem serve` started), else from
$TANDEM_TORCHSERVE_TOKEN; never from the command line. --grpc (tf only) uses TF Serving's
PredictionService.
"""


import csv
import json
import math
import os
import re
import sys
import urllib.parse
from contextlib import contextmanager

from serving import client, registry
from serving.contract import DEFAULT_MAX_ROWS, NUMBER, STRING, Contract, ContractError
from tandem.exits import OK, Failed, UsageError
from tandem.inputs import dataset

SAMPLE_ROWS = 3  # rows sent when neither --file nor --row is given
SHOWN_FEATURES = 4  # features printed beside each probability
DEFAULT_URLS = {  # TF Serving's and TorchServe's own ports, as `tandem serve` uses them
    "tf": "http://127.0.0.1:8501/v1/models/{model}:predict",
    "torch": "http://127.0.0.1:8080/predictions/{model}",
}
DEFAULT_GRPC = "127.0.0.1:8500"
REST_ENDPOINTS = {"tf": ("rest", "inference"), "torch": ("inference", "rest")}  # the registry's names, preferred first


# ================================================================ tandem query
@contextmanager
def _quiet_native(verbose: bool):
    """TensorFlow's and gRPC's C++ start-up lines (absl logging before InitializeLog, which
    TF_CPP_MIN_LOG_LEVEL does not reach) kept off the terminal, unless --verbose: file
    descriptor 2 goes to /dev/null for the block. Python's own errors still reach the CLI."""
    if verbose:
        yield
        return
    sys.stderr.flush()
    terminal = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(terminal, 2)
        os.close(terminal)


def query(args) -> int:
    if args.grpc and args.target != "tf":
        raise UsageError("--grpc: only the tf model has a gRPC endpoint tandem queries (TF Serving's "
                         "PredictionService); query the torch model over REST, without --grpc")
    if args.target == "all" and args.url:
        raise UsageError("--url: one server's; `tandem query all` asks the servers `tandem serve` started")
    data = dataset(args)
    rows = _rows(args, data, data.contract())
    if args.target == "all":  # the same rows to both served models, side by side
        answers = {target: _ask(args, target, data, rows)[0] for target in ("tf", "torch")}
        print(f"tandem: the tf and torch models answered, for {len(rows)} row(s):")
        _table(rows, answers, data.serving_features[:SHOWN_FEATURES])
        return OK
    predictions, where, answer = _ask(args, args.target, data, rows)
    if args.json:
        print(json.dumps(answer))
    else:
        print(f"tandem: the {args.target} model at {where} answered, for {len(rows)} row(s):")
        _table(rows, {"probability": predictions}, data.serving_features[:SHOWN_FEATURES])
    return OK


def _ask(args, target: str, data, rows: list[dict]) -> tuple[list[float], str, dict]:
    """(one probability per row, where the answer came from, the server's answer)."""
    features = data.contract()
    server = _recorded(os.path.abspath(args.home), target)
    try:
        if args.grpc:
            target = _grpc_target(args, server)
            with _quiet_native(args.verbose):
                import tensorflow_serving.apis.prediction_service_pb2_grpc  # noqa: F401 - loads TensorFlow, quietly
            predictions = [p for batch in _batches(rows)
                           for p in client.predict_grpc(target, data.model_name, batch, features)]
            where, answer = f"grpc {target}", {"predictions": predictions}
        else:
            url, backend = _rest_url(args, server, data.model_name, target)
            token = _token(server, url) if target == "torch" else None
            answers = [client.post_json(url, {"instances": client.for_server(batch, features, backend)}, token)
                       for batch in _batches(rows)]
            predictions = [p for batch, a in zip(_batches(rows), answers, strict=True)
                           for p in client.predictions_of(a, len(batch), url)]
            where = url + (f" ({backend})" if backend else "")
            answer = answers[0] if len(answers) == 1 else {"predictions": predictions}
    except client.ClientError as error:
        raise Failed(f"{target}: {error}" if args.target == "all" else str(error)) from None
    return predictions, where, answer


def _batches(rows: list) -> list[list]:
    """Requests of at most the contract's default row cap each."""
    return [rows[i:i + DEFAULT_MAX_ROWS] for i in range(0, len(rows), DEFAULT_MAX_ROWS)]


# ---------------------------------------------------------------- the rows
def _rows(args, data, features: dict) -> list[dict]:
    if args.file:
        return _file_rows(args.file, features)
    if args.row:
        return [_row(pairs, features) for pairs in args.row]
    return _sample_rows(args, data, features)


def _file_rows(path: str, features: dict) -> list[dict]:
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as f:
                text = f.read()
    except FileNotFoundError:
        raise UsageError(f"--file {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"--file {path}: cannot read it ({error})") from None
    try:
        body = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise UsageError(f"--file {path}: not valid JSON ({error})") from None
    rows = body.get("instances") if isinstance(body, dict) else body
    if not isinstance(rows, list):
        raise UsageError(f'--file {path}: expected {{"instances": [row, ...]}} or a list of rows')
    try:  # the contract, checked here: a bad file is the caller's error, not the server's
        Contract(features, max_rows=max(1, len(rows))).parse({"instances": rows})
    except ContractError as error:
        raise UsageError(f"--file {path}: {error}") from None
    return rows


def _number(text: str):
    """A --row or CSV number: an int where the text is one, else a float; None if empty or null."""
    text = text.strip()
    if text == "" or text.lower() == "null":
        return None
    if re.fullmatch(r"[+-]?\d+", text):
        value = int(text)
        if abs(value) < 2 ** 53:
            return value
    value = float(text)  # ValueError: not a number
    if not math.isfinite(value):
        raise ValueError(f"not finite: {text}")
    return value


def _row(pairs: list[str], features: dict) -> dict:
    row = dict.fromkeys(features)
    given = set()
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise UsageError(f"--row {pair}: expected FEATURE=VALUE")
        if name not in features:
            raise UsageError(f"--row {pair}: unknown feature {name!r}; the model reads: {', '.join(features)}")
        if name in given:
            raise UsageError(f"--row: feature {name!r} is given twice in one row")
        given.add(name)
        if features[name] == NUMBER:
            try:
                row[name] = _number(value)
            except ValueError:
                raise UsageError(f"--row {pair}: {name} is a number feature: give a finite number, "
                                 f"or nothing (`{name}=`) for a missing value") from None
        else:
            row[name] = value
    return row


def _sample_rows(args, data, features: dict) -> list[dict]:
    path = data.sample_path or data.bundled_csv(os.path.join(os.path.abspath(args.home), "data"))
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        lines = [line for _, line in zip(range(SAMPLE_ROWS), reader, strict=False)]
    missing = [name for name in features if name not in (reader.fieldnames or [])]
    if missing:
        raise Failed(f"the {data.name} dataset's data {path} has no column {missing[0]!r}: pass --row or --file")
    rows = []
    for line in lines:
        row = {}
        for name, kind in features.items():
            if kind == STRING:
                row[name] = line[name]
            else:
                try:
                    row[name] = _number(line[name])
                except ValueError:
                    raise Failed(f"{path}: {name} is not a number: {line[name]!r}") from None
        rows.append(row)
    return rows


# ---------------------------------------------------------------- where to, with which token
def _recorded(home: str, target: str):
    """The server `tandem serve` recorded for the target under the home, or None."""
    try:
        return next((s for s in registry.running(home) if s.name == target), None)
    except (OSError, ValueError, TypeError):  # no readable registry: no recorded server
        return None


def _origin(url: str) -> tuple:
    parts = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
    return parts.scheme, parts.hostname, parts.port


def _rest_url(args, server, model_name: str, target: str) -> tuple[str, str | None]:
    """(the predict URL, the backend behind it if known)."""
    recorded = None
    if server is not None:
        recorded = next((server.endpoints[k] for k in REST_ENDPOINTS[target] if k in server.endpoints), None)
    url = args.url or recorded or DEFAULT_URLS[target].format(model=model_name)
    if args.url:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UsageError(f"--url {url}: expected an http:// URL, e.g. "
                             + DEFAULT_URLS[target].format(model=model_name))
        if parts.path in ("", "/"):  # the server only: the model's predict path on it
            url = urllib.parse.urlunsplit(parts._replace(
                path=urllib.parse.urlsplit(DEFAULT_URLS[target].format(model=model_name)).path))
    if recorded and _origin(url) == _origin(recorded):
        return url, server.backend
    if target == "tf":  # stock TF Serving reads missing numbers otherwise: ask which server this is
        return url, client.rest_backend(url)
    return url, None


def _grpc_target(args, server) -> str:
    if args.url:
        return client.grpc_target(args.url)
    if server is not None:
        if server.backend != client.TF_MODEL_SERVER or "grpc" not in server.endpoints:
            raise UsageError(f"--grpc: the tf model is served by {server.backend}, which has no TF Serving "
                             "PredictionService (KServe's gRPC is its V2 protocol): query it without --grpc")
        return client.grpc_target(server.endpoints["grpc"])
    return DEFAULT_GRPC


def _token(server, url: str) -> str | None:
    """TorchServe's inference token: from the key file of the server `tandem serve` recorded,
    when the request goes to that server (its key never goes elsewhere); else from
    $TANDEM_TORCHSERVE_TOKEN; else none (a server started with token authorization off)."""
    goes_there = server is not None and any(_origin(url) == _origin(e) for e in server.endpoints.values()
                                            if "://" in e)
    if goes_there and server.key_file and os.path.exists(server.key_file):
        from serving.torchserve.server import keys

        try:  # renews the key first if it expired (TorchServe's keys live 60 minutes)
            key = keys(os.path.dirname(server.key_file)).get("inference")
        except (OSError, ValueError, registry.ServingError) as error:
            raise Failed(f"cannot read TorchServe's key file {server.key_file}: {error}") from None
        if not key:
            raise Failed(f"TorchServe's key file {server.key_file} has no inference key")
        return key
    return os.environ.get(client.TOKEN_ENV, "").strip() or None


# ---------------------------------------------------------------- the answer
def _shown(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    return text if len(text) <= 18 else text[:17] + "…"


def _table(rows: list[dict], columns: dict[str, list[float]], shown: tuple) -> None:
    """One line per row: each column's probability, then the row's first features."""
    header = ["row", *columns, *shown]
    lines = [[str(i), *(f"{columns[c][i]:.6f}" for c in columns), *(_shown(row.get(n)) for n in shown)]
             for i, row in enumerate(rows)]
    widths = [max(len(line[c]) for line in [header, *lines]) for c in range(len(header))]
    for line in [header, *lines]:
        print("  " + "  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)))


# ================================================================ tandem predict
