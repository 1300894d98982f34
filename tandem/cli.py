"""tandem's command line.

    tandem run tf|torch|all [--data PATH] [--beam-arg ARG ...]   run the pipelines
    tandem compare [--out reports]                               Keras vs. PyTorch report
    tandem tensorboard [--port 6006]                             both trainers' logs, side by side
    tandem schema draft [--data PATH] --out FILE                 a SchemaGen draft to review
    tandem data generate --rows N --out FILE                     scale the bundled data (benchmarks)
    tandem clean [--keep N]                                      free what the last N runs do not use

Every command takes --home DIR (default ./tandem_home, or $TANDEM_HOME), --dataset NAME
(default taxi; see components/datasets/), --wait and --verbose. `tf` is the Keras branch
(TensorFlow, served by TF Serving), `torch` the PyTorch branch (served by TorchServe).

Exit status: 0 success, 1 another failure (the message names the component and the
cause), 2 bad arguments, 3 the data failed validation, 130/143 interrupted (SIGINT/SIGTERM).
--verbose changes what is printed, never the exit status.
"""

import argparse
import os
import signal
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter

from tandem import exits  # noqa: E402
from tandem.commands import pipeline, reports  # noqa: E402


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own usage errors: one line, exit 2
        raise exits.UsageError(f"{message} (see `{self.prog} --help`)")


def _shared_options() -> argparse.ArgumentParser:
    """Options every command takes (an argparse parent parser)."""
    from components import datasets

    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument("--home", default=os.environ.get("TANDEM_HOME", "tandem_home"),
                        help="where pipeline outputs, metadata, pushed models and logs go "
                             "(default: ./tandem_home, or $TANDEM_HOME)")
    shared.add_argument("--dataset", default=datasets.DEFAULT, choices=datasets.names(),
                        help=f"the dataset package in components/datasets/ (default: {datasets.DEFAULT})")
    shared.add_argument("--wait", action="store_true",
                        help="if another tandem command is using the home, wait for it instead of stopping")
    shared.add_argument("--verbose", action="store_true", help="show TFX, Beam and TensorFlow logs")
    return shared


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parser() -> argparse.ArgumentParser:
    shared = _shared_options()
    p = _Parser(prog="tandem", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", parents=[shared], help="run the pipelines locally (LocalDagRunner + Beam DirectRunner)")
    run.add_argument("pipeline", choices=["tf", "torch", "all"],
                     help="which branch after the shared front: tf (Keras), torch (PyTorch), or both")
    run.add_argument("--data", help="a CSV file or a folder of CSV files (default: the dataset's bundled data)")
    run.add_argument("--input-pattern", help="files to read in the data folder; may contain {SPAN}")
    run.add_argument("--schema", help="a curated schema to validate against (default: the dataset's checked-in one)")
    run.add_argument("--train-steps", type=_positive,
                     help="optimizer steps, for both trainers (default: TrainConfig's)")
    run.add_argument("--beam-arg", action="append", metavar="ARG",
                     help="a Beam pipeline option, repeatable, e.g. --beam-arg=--runner=FlinkRunner "
                          "(replaces the DirectRunner multi-processing defaults)")
    run.add_argument("--no-cache", action="store_true", help="run every component, ignoring TFX's cache")
    run.set_defaults(func=pipeline.run)

    comparison = sub.add_parser("compare", parents=[shared],
                                help="report the latest blessed Keras and PyTorch models side by side")
    comparison.add_argument("--out", default="reports", help="where comparison.md/.html and plots go")
    comparison.set_defaults(func=reports.compare)

    board = sub.add_parser("tensorboard", parents=[shared], help="serve both trainers' latest logs side by side")
    board.add_argument("--port", type=_positive, default=6006)
    board.add_argument("--host", default="127.0.0.1", help="the address to listen on (default: loopback only)")
    board.set_defaults(func=reports.tensorboard)

    schema = sub.add_parser("schema", help="schema tools").add_subparsers(dest="action", required=True,
                                                                          parser_class=_Parser)
    draft = schema.add_parser("draft", parents=[shared], help="infer a draft schema with SchemaGen, for review")
    draft.add_argument("--data", help="a CSV file or folder (default: the dataset's bundled data)")
    draft.add_argument("--out", required=True, help="where to write the draft schema.pbtxt")
    draft.set_defaults(func=pipeline.schema_draft)

    cleanup = sub.add_parser("clean", parents=[shared],
                             help="remove outputs and pushed versions that the last N runs do not use")
    cleanup.add_argument("--keep", type=_positive, default=3, help="runs whose outputs are kept (default: 3)")
    cleanup.set_defaults(func=pipeline.clean)

    data = sub.add_parser("data", help="data tools").add_subparsers(dest="action", required=True, parser_class=_Parser)
    gen = data.add_parser("generate", parents=[shared], help="scale the bundled data to N rows (deterministic)")
    gen.add_argument("--rows", type=_positive, required=True)
    gen.add_argument("--out", required=True)
    gen.add_argument("--seed", type=int, default=0)
    gen.set_defaults(func=pipeline.data_generate)
    return p


def main(argv=None) -> int:
    """Parse, run one command, and map every outcome to the exit-code contract."""
    from pipelines.home import HomeBusy
    from pipelines.interrupts import Interrupted, Terminated, raise_on_sigterm

    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # progress lines as they happen
    raise_on_sigterm()
    try:
        args = parser().parse_args(argv)
        return args.func(args)
    except exits.UsageError as error:
        print(f"tandem: error: {error}", file=sys.stderr)
        return exits.USAGE
    except (HomeBusy, exits.Failed) as error:
        print(f"tandem: {error}", file=sys.stderr)
        return exits.FAILED
    except (Interrupted, KeyboardInterrupt, Terminated) as error:
        signum = getattr(error, "signum", signal.SIGTERM if isinstance(error, Terminated) else signal.SIGINT)
        where = f" during {error.component}" if getattr(error, "component", None) else ""
        print(f"tandem: interrupted by {signal.Signals(signum).name}{where}: stopped, with its child processes; "
              "pushed versions are complete. Run it again to resume from the cache.", file=sys.stderr)
        return exits.INTERRUPTED[signum]
    except Exception as error:  # noqa: BLE001 - a bug of ours: one line, the traceback is in the log
        print(f"tandem: internal error: {type(error).__name__}: {error}", file=sys.stderr)
        return exits.FAILED


if __name__ == "__main__":
    sys.exit(main())
