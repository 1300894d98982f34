"""tandem's command line.

    tandem run tf|torch|all [--data PATH] [--beam-arg ARG ...]   run the pipelines
    tandem compare [--out reports]                               Keras vs. PyTorch report
    tandem tensorboard [--port 6006]                             both trainers' logs, side by side
    tandem schema draft [--data PATH] --out FILE                 a SchemaGen draft to review
    tandem data generate --rows N --out FILE                     scale the bundled data (benchmarks)

Every command takes --home DIR (default ./tandem_home, or $TANDEM_HOME) and --dataset NAME
(default taxi; see components/datasets/). `tf` is the Keras branch (TensorFlow, served by
TF Serving); `torch` the PyTorch branch (served by TorchServe).

Exit status: 0 on success, 2 for bad arguments, 3 when the data fails validation,
1 when a component fails for another reason.
"""

import argparse
import glob
import os
import re
import sys
import time
from contextlib import contextmanager

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter

EXIT_FAILED, EXIT_USAGE, EXIT_INVALID_DATA = 1, 2, 3


def _dataset(args):
    from components import datasets

    return datasets.load(args.dataset)


def _input(data: str | None, pattern: str | None = None, bundled=None) -> tuple[str, str]:
    """--data PATH [--input-pattern P] -> (input_base folder, input_pattern) for ExampleGen.
    `bundled`: a function that returns the bundled data's path, used when --data is not given."""
    path = os.path.abspath(data or bundled())
    if os.path.isfile(path) and not pattern:
        return os.path.dirname(path), glob.escape(os.path.basename(path))
    if os.path.isdir(path):
        pattern = pattern or "*.csv"
        # {SPAN}, {VERSION}, {YYYY}… are ExampleGen's placeholders: any value matches here.
        if not glob.glob(os.path.join(glob.escape(path), re.sub(r"\{[A-Z]+\}", "*", pattern))):
            raise SystemExit(f"tandem: error: no files match {pattern!r} in {path}")
        return path, pattern
    raise SystemExit(f"tandem: error: --data {data}: no such {'folder' if pattern else 'file or folder'}")


def _bundled(args, home: str):
    return lambda: _dataset(args).bundled_csv(os.path.join(home, "data"))


def _pipeline_config(args, home: str):
    from components.front import FrontConfig
    from components.validate import stage_schema
    from pipelines.config import PipelineConfig, TrainConfig

    input_base, pattern = _input(args.data, args.input_pattern, _bundled(args, home))
    schema = stage_schema(args.schema or _dataset(args).schema_path, os.path.join(home, "schemas"))
    overrides = {"beam_args": tuple(args.beam_arg)} if args.beam_arg else {}  # else the config's defaults
    return PipelineConfig(
        front=FrontConfig(input_base, schema, input_pattern=pattern, dataset=args.dataset),
        home=home,
        train=TrainConfig(train_steps=args.train_steps) if args.train_steps else TrainConfig(),
        enable_cache=not args.no_cache,
        **overrides,
    )


@contextmanager
def _logs_to_file(home: str, name: str, verbose: bool):
    """Send everything written to stderr (TensorFlow, Beam and their worker processes)
    to a log file, and yield a stream for tandem's own messages to the terminal."""
    if verbose:
        yield sys.stderr, None
        return
    path = os.path.join(home, "logs", f"{time.strftime('%Y%m%d-%H%M%S')}-{name}.log")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sys.stderr.flush()
    terminal = os.dup(2)
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 2)
    try:
        with os.fdopen(os.dup(terminal), "w", buffering=1) as stream:
            try:
                yield stream, path
            except SystemExit as error:  # a usage error found after the redirect
                if isinstance(error.code, str):
                    print(error.code, file=stream)
                    raise SystemExit(EXIT_USAGE) from None
                raise
            except Exception as error:
                print(f"tandem: internal error: {type(error).__name__}: {error}\ntraceback in {path}", file=stream)
                raise
    finally:
        sys.stderr.flush()
        os.dup2(terminal, 2)
        os.close(terminal)


def cmd_run(args) -> int:
    home = os.path.abspath(args.home)
    with _logs_to_file(home, f"run-{args.pipeline}", args.verbose) as (terminal, log):
        # Imported here, after stderr went to the log: TensorFlow talks a lot on import.
        from components.validate import DataValidationError
        from pipelines.branches import by_cli_name
        from pipelines.pipeline import create_pipeline
        from pipelines.runner import PipelineError, run_pipeline
        from reporting.summary import run_summary

        cfg = _pipeline_config(args, home)
        branches = by_cli_name(args.pipeline)
        source = os.path.join(cfg.front.input_base, cfg.front.input_pattern)
        print(f"tandem: running the shared front, then {' and '.join(b.title for b in branches)}, "
              f"on {source} (dataset {cfg.front.dataset})")
        print(f"tandem: outputs under {cfg.home}" + (f"; full log in {log}" if log else ""))
        try:
            seconds = run_pipeline(create_pipeline(cfg, branches), verbose=args.verbose)
        except DataValidationError as error:
            print(f"tandem: STOPPED by the validation gate: nothing was trained or pushed.\n{error}", file=terminal)
            return EXIT_INVALID_DATA
        except PipelineError as error:
            if error.component == "CsvExampleGen":
                print(f"tandem: could not read the CSV input {source}", file=terminal)
            print(f"tandem: FAILED: {error}\nnothing was trained or pushed after it."
                  + (f" Full log: {log}" if log else ""), file=terminal)
            return EXIT_FAILED
        print(f"tandem: finished in {seconds:.1f}s")
        for line in run_summary(cfg.metadata_path).lines():
            print(f"  {line}")
    return 0


def cmd_compare(args) -> int:
    home = os.path.abspath(args.home)
    with _logs_to_file(home, "compare", args.verbose) as (terminal, log):
        from reporting.compare import NoRunError, compare

        print(f"tandem: comparing the latest TFX/Keras and PyTorch models under {home}"
              + (f"; full log in {log}" if log else ""))
        try:
            md_path, html_path = compare(home, args.dataset, os.path.abspath(args.out))
        except NoRunError as error:
            print(f"tandem: {error}", file=terminal)
            return EXIT_FAILED
    print(f"tandem: wrote {md_path} and {html_path}")
    return 0


def cmd_tensorboard(args) -> int:
    home = os.path.abspath(args.home)
    from reporting.tensorboard import NoRunError, log_dirs

    try:
        dirs = log_dirs(home, args.dataset)
    except NoRunError as error:
        print(f"tandem: {error}", file=sys.stderr)
        return EXIT_FAILED
    for name, path in dirs.items():
        print(f"tandem: {name}: {path}")
    print(f"tandem: TensorBoard on http://{args.host}:{args.port}/ (Ctrl-C stops it)")
    spec = ",".join(f"{name}:{path}" for name, path in dirs.items())
    os.execvp("tensorboard", ["tensorboard", "--logdir_spec", spec, "--host", args.host, "--port", str(args.port)])


def cmd_schema_draft(args) -> int:
    from pipelines.schema_draft import write_schema_draft

    home = os.path.abspath(args.home)
    input_base, pattern = _input(args.data, bundled=_bundled(args, home))
    path = write_schema_draft(input_base, pattern, home, args.out)
    print(f"tandem: wrote a SchemaGen draft to {path}; review it against {_dataset(args).schema_path} before adopting")
    return 0


def cmd_data_generate(args) -> int:
    from components.data import generate

    source = _bundled(args, os.path.abspath(args.home))()
    print(f"tandem: wrote {generate(_dataset(args), source, args.rows, args.out, seed=args.seed)} ({args.rows} rows)")
    return 0


def _shared_options() -> argparse.ArgumentParser:
    """Options every command takes (argparse parent parser)."""
    from components import datasets

    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument("--home", default=os.environ.get("TANDEM_HOME", "tandem_home"),
                        help="where pipeline outputs, metadata, pushed models and logs go "
                             "(default: ./tandem_home, or $TANDEM_HOME)")
    shared.add_argument("--dataset", default=datasets.DEFAULT, choices=datasets.names(),
                        help=f"the dataset package in components/datasets/ (default: {datasets.DEFAULT})")
    shared.add_argument("--verbose", action="store_true", help="show TFX, Beam and TensorFlow logs")
    return shared


def parser() -> argparse.ArgumentParser:
    shared = _shared_options()
    p = argparse.ArgumentParser(prog="tandem", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", parents=[shared], help="run the pipelines locally (LocalDagRunner + Beam DirectRunner)")
    run.add_argument("pipeline", choices=["tf", "torch", "all"],
                     help="which branch after the shared front: tf (Keras), torch (PyTorch), or both")
    run.add_argument("--data", help="a CSV file or a folder of CSV files (default: the dataset's bundled data)")
    run.add_argument("--input-pattern", help="files to read in the data folder; may contain {SPAN}")
    run.add_argument("--schema", help="a curated schema to validate against (default: the dataset's checked-in one)")
    run.add_argument("--train-steps", type=int, help="optimizer steps, for both trainers (default: TrainConfig's)")
    run.add_argument("--beam-arg", action="append", metavar="ARG",
                     help="a Beam pipeline option, repeatable, e.g. --beam-arg=--runner=FlinkRunner "
                          "(replaces the DirectRunner multi-processing defaults)")
    run.add_argument("--no-cache", action="store_true", help="run every component, ignoring TFX's cache")
    run.set_defaults(func=cmd_run)

    comparison = sub.add_parser("compare", parents=[shared], help="report the latest Keras and PyTorch models side by side")
    comparison.add_argument("--out", default="reports", help="where comparison.md/.html and plots go")
    comparison.set_defaults(func=cmd_compare)

    board = sub.add_parser("tensorboard", parents=[shared], help="serve both trainers' latest logs side by side")
    board.add_argument("--port", type=int, default=6006)
    board.add_argument("--host", default="127.0.0.1", help="the address to listen on (default: loopback only)")
    board.set_defaults(func=cmd_tensorboard)

    schema = sub.add_parser("schema", help="schema tools").add_subparsers(dest="action", required=True)
    draft = schema.add_parser("draft", parents=[shared], help="infer a draft schema with SchemaGen, for review")
    draft.add_argument("--data", help="a CSV file or folder (default: the dataset's bundled data)")
    draft.add_argument("--out", required=True, help="where to write the draft schema.pbtxt")
    draft.set_defaults(func=cmd_schema_draft)

    data = sub.add_parser("data", help="data tools").add_subparsers(dest="action", required=True)
    gen = data.add_parser("generate", parents=[shared], help="scale the bundled data to N rows (deterministic)")
    gen.add_argument("--rows", type=int, required=True)
    gen.add_argument("--out", required=True)
    gen.add_argument("--seed", type=int, default=0)
    gen.set_defaults(func=cmd_data_generate)
    return p


def main(argv=None) -> int:
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # progress lines as they happen
    args = parser().parse_args(argv)
    if getattr(args, "train_steps", None) is not None and args.train_steps < 1:
        parser().error("--train-steps must be at least 1")
    if getattr(args, "rows", None) is not None and args.rows < 1:
        parser().error("--rows must be at least 1")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
