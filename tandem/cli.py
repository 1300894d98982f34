"""tandem's command line.

    tandem run tf|torch|all [--data PATH] [--beam-arg ARG ...]   run the pipelines
    tandem compare [--out reports]                               Keras vs. PyTorch report
    tandem tensorboard [--port 6006]                             both trainers' logs, side by side
    tandem schema draft [--data PATH] --out FILE                 a SchemaGen draft to review
    tandem data generate --rows N --out FILE                     scale the bundled data (benchmarks)
    tandem serve tf|torch | stop | status                        serve the pushed models (real servers)
    tandem query tf|torch|all [--grpc] [--row k=v ...]           ask the served models
    tandem predict tf|torch --data CSV --out FILE                score a file in-process
    tandem clean [--keep N]                                      free what the last N runs do not use
    tandem deploy [tf|torch|all] --overlay NAME [--version N]    the pushed models on Kubernetes (kustomize overlay)
    tandem rollback [tf|torch] | tandem status                   the previous version again | what runs where
    tandem compile --target kfp [--image IMAGE] [--out DIR]      the pipeline for Kubeflow / Vertex AI Pipelines

Every command takes --home DIR (default ./tandem_home, or $TANDEM_HOME), --dataset NAME
(default taxi; see components/datasets/), --wait and --verbose. `tf` is the Keras branch
(TensorFlow, served by TF Serving), `torch` the PyTorch branch (served by TorchServe).

Exit status: 0 success, 1 another failure (the message names the component and the
cause), 2 bad arguments, 3 the data failed validation, 130/143 interrupted (SIGINT/SIGTERM).
--verbose changes what is printed, never the exit status.
"""

import argparse
import gc
import os
import signal
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter

from tandem import exits  # noqa: E402
from tandem.commands import kubernetes, pipeline, predict, query, reports, serving  # noqa: E402


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


def _runner_options() -> argparse.ArgumentParser:
    """`--runner` and the options of its presets (pipelines/runners.py), for run and compile."""
    from pipelines.runners import RUNNERS

    runner = argparse.ArgumentParser(add_help=False)
    group = runner.add_argument_group("scale-out (Beam runner presets; see pipelines/runners.py)")
    group.add_argument("--runner", choices=RUNNERS,
                       help="run the Beam-based components on a cluster instead of the local DirectRunner")
    group.add_argument("--flink-master", metavar="HOST:PORT", help="flink: the Flink master's REST endpoint")
    group.add_argument("--spark-master", metavar="spark://HOST:PORT", help="spark: the Spark master")
    group.add_argument("--job-endpoint", metavar="HOST:PORT",
                       help="flink, spark: a Beam job server already running (instead of the master); "
                            "portable: the job service (python -m pipelines.engine job-service)")
    group.add_argument("--worker-pool", metavar="HOST:PORT",
                       help="portable: the EXTERNAL SDK worker pool (default: the job endpoint's host, port 50000)")
    group.add_argument("--worker-image", metavar="IMAGE",
                       help="flink, spark, dataflow: the SDK harness image (tandem's code and dependencies)")
    group.add_argument("--project", help="dataflow: the Google Cloud project")
    group.add_argument("--region", help="dataflow: the region, e.g. us-central1")
    group.add_argument("--temp-location", metavar="gs://BUCKET/PATH", help="dataflow: staging and temporary files")
    group.add_argument("--dask-address", metavar="tcp://HOST:PORT", help="dask: the Dask scheduler")
    return runner


def _kubernetes_options() -> argparse.ArgumentParser:
    k8s = argparse.ArgumentParser(add_help=False)
    k8s.add_argument("--context", help="the kubeconfig context (default: the current one, as kubectl)")
    k8s.add_argument("--namespace", help="the namespace (deploy: of every namespaced object; default: the "
                                         "objects' own, else the context's; status, rollback: default all)")
    return k8s


def parser() -> argparse.ArgumentParser:
    shared = _shared_options()
    runner_options, k8s = _runner_options(), _kubernetes_options()
    p = _Parser(prog="tandem", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", parents=[shared, runner_options],
                         help="run the pipelines (TFX's LocalDagRunner; Beam's DirectRunner, or a --runner preset)")
    run.add_argument("pipeline", choices=["tf", "torch", "all"],
                     help="which branch after the shared front: tf (Keras), torch (PyTorch), or both")
    run.add_argument("--data", help="a CSV file or a folder of CSV files (default: the dataset's bundled data)")
    run.add_argument("--input-pattern", help="files to read in the data folder; may contain {SPAN}")
    run.add_argument("--schema", help="a curated schema to validate against (default: the dataset's checked-in one)")
    run.add_argument("--train-steps", type=_positive,
                     help="optimizer steps, for both trainers (default: TrainConfig's)")
    run.add_argument("--batch-size", type=_positive,
                     help="rows per optimizer step, for both trainers (default: TrainConfig's, 64; on a GPU a "
                          "larger batch uses it better: README, Twin trainers)")
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

    serve = sub.add_parser("serve", parents=[shared], help="serve a pushed model (tf: TF Serving's protocol; "
                           "torch: TorchServe), or stop / show the servers")
    serve.add_argument("target", choices=["tf", "torch", "stop", "status"])
    serve.add_argument("server", nargs="?", choices=["tf", "torch"], help="for stop: which server (default: all)")
    serve.add_argument("--backend", help="tf: tensorflow_model_server (where on PATH) or kserve; "
                                         "torch: torchserve or kserve")
    serve.add_argument("--version", type=_positive, help="the pushed version to serve (default: the newest)")
    for port in ("rest", "grpc", "inference", "management", "metrics", "grpc-management"):
        serve.add_argument(f"--{port}-port", type=_positive, help=argparse.SUPPRESS if port == "grpc-management"
                           else f"the {port} port (default: the server's own)")
    serve.set_defaults(func=serving.serve)

    ask = sub.add_parser("query", parents=[shared], help="send rows to a served model and print its answers")
    ask.add_argument("target", choices=["tf", "torch", "all"], help="all: the same rows to both, side by side")
    ask.add_argument("--grpc", action="store_true", help="TF Serving's gRPC PredictionService (tf only)")
    ask.add_argument("--url", help="the server (default: the one `tandem serve` started, or the default ports)")
    rows = ask.add_mutually_exclusive_group()
    rows.add_argument("--file", help="a JSON file: {\"instances\": [...]} or a list of rows")
    rows.add_argument("--row", action="append", metavar="FEATURE=VALUE", nargs="+",
                      help="one row, features not given are null; repeat --row for more rows")
    ask.add_argument("--json", action="store_true", help="print the server's JSON answer as it is")
    ask.set_defaults(func=query.query)

    score = sub.add_parser("predict", parents=[shared],
                           help="score a CSV file with the newest pushed model, in-process (no server)")
    score.add_argument("target", choices=["tf", "torch"])
    score.add_argument("--data", required=True, help="a CSV file with the model's raw features")
    score.add_argument("--out", required=True, help="where to write the CSV of probabilities")
    score.set_defaults(func=predict.predict)

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

    ship = sub.add_parser("deploy", parents=[shared, k8s],
                          help="deploy the pushed models to Kubernetes: render an overlay, publish, apply, roll out")
    ship.add_argument("servers", nargs="?", default="all", choices=["tf", "torch", "all"],
                      help="which servers (default: all)")
    ship.add_argument("--overlay", required=True, help="k8s/overlays/NAME (local, gke-gpu, eks-gpu), or a folder "
                                                       "with a kustomization")
    ship.add_argument("--version", type=_positive, help="the pushed version to serve (default: the newest)")
    ship.add_argument("--dry-run", action="store_true",
                      help="check everything with the API server (server-side dry run); publish and apply nothing")
    ship.add_argument("--timeout", type=_positive, default=300, help="seconds to wait for the rollouts (default 300)")
    ship.set_defaults(func=kubernetes.deploy)

    back = sub.add_parser("rollback", parents=[shared, k8s],
                          help="serve the version deployed before the current one again")
    back.add_argument("server", nargs="?", default="all", choices=["tf", "torch", "all"],
                      help="which server (default: all: each that has an earlier version)")
    back.add_argument("--timeout", type=_positive, default=300, help="seconds to wait for the rollout (default 300)")
    back.set_defaults(func=kubernetes.rollback)

    where = sub.add_parser("status", parents=[shared, k8s],
                           help="the deployed servers: version, readiness, history, endpoints")
    where.set_defaults(func=kubernetes.status)

    kfp = sub.add_parser("compile", parents=[shared, runner_options],
                         help="compile the pipeline for Kubeflow Pipelines or Vertex AI Pipelines (KFP v2 spec)")
    kfp.add_argument("pipeline", nargs="?", default="all", choices=["tf", "torch", "all"],
                     help="which branches (one KFP pipeline each; default: all)")
    kfp.add_argument("--target", required=True, choices=["kfp"])
    kfp.add_argument("--image", default="tandem:latest",
                     help="the image every component runs in: tandem's code and its pinned dependencies")
    kfp.add_argument("--out", default="build/kfp", help="where the specs go (default: build/kfp)")
    kfp.add_argument("--serving-root", default="/tandem/serving",
                     help="where the pushers publish, inside the pipeline's containers (default: /tandem/serving)")
    kfp.add_argument("--input-pattern", help="files to read in data-root; may contain {SPAN} (default: *.csv)")
    kfp.add_argument("--beam-arg", action="append", metavar="ARG", help="a Beam pipeline option, repeatable")
    kfp.set_defaults(func=kubernetes.compile_pipeline)
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


def program() -> int:
    """`tandem` as a program: main() on the command line, for a process that ends with it."""
    code = main()
    # The objects TensorFlow, Beam and TFX made would get the cyclic collector's last passes at
    # exit: 2 s at the end of a pipeline run, for memory the system takes back anyway. The
    # collector skips frozen objects; atexit handlers and finalizers still run.
    gc.freeze()
    return code


if __name__ == "__main__":
    sys.exit(program())
