"""tandem's command line.

    tandem run tf|torch|all [--data PATH] [--home DIR] [--beam-arg ARG ...]   run pipelines
    tandem compare [--home DIR] [--out reports]                     Keras vs. PyTorch report
    tandem schema draft [--data PATH] --out FILE                    a SchemaGen draft to review
    tandem data generate --rows N --out FILE                        scale the sample (benchmarks)

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


def _input(data: str | None, pattern: str | None = None) -> tuple[str, str]:
    """--data PATH [--input-pattern P] -> (input_base folder, input_pattern) for ExampleGen."""
    from components.data import bundled_csv

    path = os.path.abspath(data or bundled_csv())
    if os.path.isfile(path) and not pattern:
        return os.path.dirname(path), glob.escape(os.path.basename(path))
    if os.path.isdir(path):
        pattern = pattern or "*.csv"
        # {SPAN}, {VERSION}, {YYYY}… are ExampleGen's placeholders: any value matches here.
        if not glob.glob(os.path.join(glob.escape(path), re.sub(r"\{[A-Z]+\}", "*", pattern))):
            raise SystemExit(f"tandem: error: no files match {pattern!r} in {path}")
        return path, pattern
    raise SystemExit(f"tandem: error: --data {data}: no such {'folder' if pattern else 'file or folder'}")


def _pipeline_config(args, home: str):
    from components.front import FrontConfig
    from components.validate import curated_schema_path, stage_schema
    from pipelines.config import PipelineConfig, TrainConfig

    input_base, pattern = _input(args.data, args.input_pattern)
    schema = stage_schema(args.schema or curated_schema_path(), os.path.join(home, "schemas"))
    overrides = {"beam_args": tuple(args.beam_arg)} if args.beam_arg else {}  # else the config's defaults
    return PipelineConfig(
        front=FrontConfig(input_base, schema, input_pattern=pattern),
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
        from pipelines.runner import PipelineError, run_pipeline
        from pipelines.summary import latest_run_summary
        from pipelines.pipeline import create_pipeline

        cfg = _pipeline_config(args, home)
        source = os.path.join(cfg.front.input_base, cfg.front.input_pattern)
        branches = {"tf": "TFX/Keras", "torch": "PyTorch", "all": "TFX/Keras and PyTorch"}[args.pipeline]
        print(f"tandem: running the shared front, then {branches}, on {source}")
        print(f"tandem: outputs under {cfg.home}" + (f"; full log in {log}" if log else ""))
        try:
            frameworks = ("tf", "torch") if args.pipeline == "all" else (args.pipeline,)
            seconds = run_pipeline(create_pipeline(cfg, frameworks), verbose=args.verbose)
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
        for line in latest_run_summary(cfg.metadata_path).lines():
            print(f"  {line}")
    return 0


def cmd_compare(args) -> int:
    home = os.path.abspath(args.home)
    with _logs_to_file(home, "compare", args.verbose) as (terminal, log):
        from pipelines.compare import NoRunError, compare

        print(f"tandem: comparing the latest TFX/Keras and PyTorch models under {home}"
              + (f"; full log in {log}" if log else ""))
        try:
            md_path, html_path = compare(home, os.path.abspath(args.out))
        except NoRunError as error:
            print(f"tandem: {error}", file=terminal)
            return EXIT_FAILED
    print(f"tandem: wrote {md_path} and {html_path}")
    return 0


def cmd_schema_draft(args) -> int:
    from pipelines.schema_draft import write_schema_draft

    input_base, pattern = _input(args.data)
    path = write_schema_draft(input_base, pattern, os.path.abspath(args.home), args.out)
    print(f"tandem: wrote a SchemaGen draft to {path}; review it against components/schema/ before adopting")
    return 0


def cmd_data_generate(args) -> int:
    from components.data import generate

    print(f"tandem: wrote {generate(args.rows, args.out, seed=args.seed)} ({args.rows} rows)")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tandem", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a pipeline locally (LocalDagRunner + Beam DirectRunner)")
    run.add_argument("pipeline", choices=["tf", "torch", "all"],
                     help="which branch after the shared front: TFX/Keras, PyTorch, or both")
    run.add_argument("--data", help="a CSV file or a folder of CSV files (default: the bundled sample)")
    run.add_argument("--input-pattern", help="files to read in the data folder; may contain {SPAN}")
    run.add_argument("--schema", help="a curated schema to validate against (default: the checked-in one)")
    run.add_argument("--home", default=os.environ.get("TANDEM_HOME", "tandem_home"),
                     help="where pipeline outputs, metadata and pushed models go (default: ./tandem_home)")
    run.add_argument("--train-steps", type=int, help="training steps (default: the TrainConfig value)")
    run.add_argument("--beam-arg", action="append", metavar="ARG",
                     help="a Beam pipeline option, repeatable, e.g. --beam-arg=--runner=FlinkRunner "
                          "(replaces the DirectRunner multi-processing defaults)")
    run.add_argument("--no-cache", action="store_true", help="run every component, ignoring TFX's cache")
    run.add_argument("--verbose", action="store_true", help="show TFX and Beam logs")
    run.set_defaults(func=cmd_run)

    comparison = sub.add_parser("compare", help="report the latest Keras and PyTorch models side by side")
    comparison.add_argument("--home", default=os.environ.get("TANDEM_HOME", "tandem_home"))
    comparison.add_argument("--out", default="reports", help="where comparison.md/.html and plots go")
    comparison.add_argument("--verbose", action="store_true", help="show TensorFlow and TFMA logs")
    comparison.set_defaults(func=cmd_compare)

    schema = sub.add_parser("schema", help="schema tools").add_subparsers(dest="action", required=True)
    draft = schema.add_parser("draft", help="infer a draft schema with SchemaGen, for review")
    draft.add_argument("--data", help="a CSV file or folder (default: the bundled sample)")
    draft.add_argument("--out", required=True, help="where to write the draft schema.pbtxt")
    draft.add_argument("--home", default=os.environ.get("TANDEM_HOME", "tandem_home"))
    draft.set_defaults(func=cmd_schema_draft)

    data = sub.add_parser("data", help="data tools").add_subparsers(dest="action", required=True)
    gen = data.add_parser("generate", help="scale the bundled sample to N rows (deterministic)")
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
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
