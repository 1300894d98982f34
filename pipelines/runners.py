"""Beam runner presets: `tandem run … --runner flink|spark|dataflow|dask|portable` with each runner's
required options, assembled into Beam pipeline options for every Beam-based component of
both pipelines (ExampleGen, StatisticsGen, Transform, the Evaluators…). `--beam-arg`s come
after a preset's options, so they add to it or override it.

What each needs outside tandem (none of it can run on this machine's tests):
- flink: a Flink cluster, and either
    --flink-master HOST:PORT   Beam's FlinkRunner starts a Flink job server itself, from Beam's
                               job-server JAR (Java on this machine; the JAR is fetched from Maven
                               Central on first use, or --beam-arg=--flink_job_server_jar=PATH),
                               for the Flink version --beam-arg=--flink_version=… (Beam's default: 2.2);
    --job-endpoint HOST:PORT   a Flink job server already running (e.g. the
                               apache/beam_flink<version>_job_server image, started with
                               --flink-master), reached through Beam's PortableRunner.
- spark: a Spark cluster, and either --spark-master spark://HOST:7077 (Beam's SparkRunner starts
  a Spark job server from Beam's JAR, as for Flink) or --job-endpoint HOST:PORT (a running
  Spark job server, e.g. the apache/beam_spark3_job_server image).
- Flink and Spark run the Python code in an SDK harness: --worker-image IMAGE runs it in that
  Docker image on every worker (it must hold tandem's code and its pinned dependencies:
  Beam's own SDK image has no TFX); without it, LOOPBACK: the harness runs inside this tandem
  process, which the cluster must be able to reach (a cluster on this machine).
- dataflow: --project, --region and --temp-location gs://BUCKET/tmp (Dataflow's staging), and
  --worker-image for the same reason. Dataflow's workers cannot read this machine's files, so
  `tandem run` (whose home and data are local) refuses it: compile the pipeline for Vertex AI
  Pipelines instead (`tandem compile --target kfp --runner dataflow …`), where both are on GCS.
- dask: --dask-address tcp://HOST:8786, a Dask scheduler; `dask` and `distributed` installed
  here and on the workers (Beam's `dask` extra: not in this environment's pinned set).
- portable: --job-endpoint HOST:PORT, a Beam job service (tandem's: `python -m pipelines.engine
  job-service`, Beam's Python one with two fixes), whose SDK workers run in an EXTERNAL worker
  pool (`python -m pipelines.engine worker-pool`, or Beam's SDK container with --worker_pool):
  --worker-pool HOST:PORT (default: the job endpoint's host, port 50000, the pool's usual port).
  Every DoFn runs in the pool's worker processes, which need tandem's code and pinned
  dependencies (the same environment, or tandem's pipeline image). `--sdk_worker_parallelism=0`:
  one SDK worker per core of the job service's machine (`--beam-arg=--sdk_worker_parallelism=N`
  sets N). `python -m pipelines.engine up` starts both on this machine; docs/engines.md has their
  Kubernetes form.
Whichever runner: the workers read and write the pipeline's outputs under the home, so it must
be a filesystem they share at the same path (e.g. an NFS mount).
"""

import contextlib
import importlib.util
import io
import re

RUNNERS = ("flink", "spark", "dataflow", "dask", "portable")
# argparse names (`--flink-master` -> flink_master) of the presets' options, and the runners each serves.
OPTIONS = {"flink_master": ("flink",), "spark_master": ("spark",), "job_endpoint": ("flink", "spark", "portable"),
           "project": ("dataflow",), "region": ("dataflow",), "temp_location": ("dataflow",),
           "dask_address": ("dask",), "worker_image": ("flink", "spark", "dataflow"), "worker_pool": ("portable",)}
WORKER_POOL_PORT = 50000  # the port of Beam's SDK container in --worker_pool mode
DASK_RUNNER = "apache_beam.runners.dask.dask_runner.DaskRunner"  # not among Beam's short runner names
_HOST_PORT = re.compile(r"(https?://)?[A-Za-z0-9.\-\[\]:]+:\d+")


class RunnerError(ValueError):
    """A preset's option is missing, malformed, or given to the wrong runner."""


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _given(options) -> dict:
    return {name: getattr(options, name, None) for name in OPTIONS if getattr(options, name, None)}


def beam_args(runner: str, options, local_home: bool = False) -> tuple[str, ...]:
    """Beam options for `runner` from `options` (an object with the attributes in OPTIONS, e.g.
    argparse's namespace). `local_home`: the run's home and data are on this machine."""
    if runner not in RUNNERS:
        raise RunnerError(f"--runner {runner}: one of {', '.join(RUNNERS)}")
    given = _given(options)
    wrong = [name for name in given if runner not in OPTIONS[name]]
    if wrong:
        raise RunnerError("; ".join(f"{_flag(n)} is for --runner {' or '.join(OPTIONS[n])}, not {runner}"
                                    for n in wrong))
    return {"flink": _flink, "spark": _spark, "dataflow": _dataflow, "dask": _dask,
            "portable": _portable}[runner](given, local_home)


def _portable_environment(given: dict) -> tuple[str, ...]:
    image = given.get("worker_image")
    return ("--environment_type=DOCKER", f"--environment_config={image}") if image else ("--environment_type=LOOPBACK",)


def _job_server(runner: str, master_name: str, master_flag: str, given: dict, check) -> tuple[str, ...]:
    master, endpoint = given.get(master_name), given.get("job_endpoint")
    if master and endpoint:
        raise RunnerError(f"--runner {runner}: {_flag(master_name)} or --job-endpoint, not both (a running job "
                          "server already knows its cluster)")
    if endpoint:
        if not _HOST_PORT.fullmatch(endpoint):
            raise RunnerError(f"--job-endpoint {endpoint}: expected HOST:PORT of a Beam job server (e.g. "
                              "localhost:8099)")
        return ("--runner=PortableRunner", f"--job_endpoint={endpoint}") + _portable_environment(given)
    if not master:
        raise RunnerError(f"--runner {runner} needs {_flag(master_name)} (its cluster) or --job-endpoint HOST:PORT "
                          f"(a {runner.capitalize()} job server already running)")
    check(master)
    return (f"--runner={runner.capitalize()}Runner", f"--{master_flag}={master}") + _portable_environment(given)


def _flink(given: dict, local_home: bool) -> tuple[str, ...]:
    def check(master):
        if master not in ("[local]", "[auto]") and not _HOST_PORT.fullmatch(master):
            raise RunnerError(f"--flink-master {master}: expected HOST:PORT of the Flink master's REST endpoint "
                              "(e.g. flink-jobmanager:8081), or [local]")
    return _job_server("flink", "flink_master", "flink_master", given, check)


def _spark(given: dict, local_home: bool) -> tuple[str, ...]:
    def check(master):
        if not re.fullmatch(r"spark://[^\s/:]+:\d+|local(\[(\d+|\*)\])?", master):
            raise RunnerError(f"--spark-master {master}: expected spark://HOST:PORT (e.g. spark://spark-master:7077) "
                              "or local[N]")
    return _job_server("spark", "spark_master", "spark_master_url", given, check)


def _dataflow(given: dict, local_home: bool) -> tuple[str, ...]:
    missing = [_flag(n) for n in ("project", "region", "temp_location") if not given.get(n)]
    if missing:
        raise RunnerError(f"--runner dataflow needs {', '.join(missing)}")
    if not given["temp_location"].startswith("gs://"):
        raise RunnerError(f"--temp-location {given['temp_location']}: Dataflow stages through Cloud Storage: "
                          "gs://BUCKET/PATH")
    if local_home:
        raise RunnerError("--runner dataflow: Dataflow's workers cannot read or write this machine's files, and "
                          "`tandem run` keeps the pipeline's outputs and data in the local home: run it on Vertex AI "
                          "Pipelines, where both are on Cloud Storage (tandem compile --target kfp --runner dataflow "
                          "--project … --region … --temp-location …)")
    args = ("--runner=DataflowRunner", f"--project={given['project']}", f"--region={given['region']}",
            f"--temp_location={given['temp_location']}")
    return args + ((f"--sdk_container_image={given['worker_image']}",) if given.get("worker_image") else ())


def _dask(given: dict, local_home: bool) -> tuple[str, ...]:
    address = given.get("dask_address")
    if not address:
        raise RunnerError("--runner dask needs --dask-address tcp://HOST:8786 (a Dask scheduler)")
    if not re.fullmatch(r"(tcp|tls)://[^\s/]+:\d+|[^\s/:]+:\d+", address):
        raise RunnerError(f"--dask-address {address}: expected tcp://HOST:PORT of a Dask scheduler")
    return (f"--runner={DASK_RUNNER}", f"--dask_client_address={address}")


def portable_args(job_endpoint: str, worker_pool: str, parallelism: int = 0) -> tuple[str, ...]:
    """Beam options for a job service at `job_endpoint` whose SDK workers run in the EXTERNAL
    worker pool at `worker_pool`, `parallelism` workers per job (0: the job service chooses)."""
    return ("--runner=PortableRunner", f"--job_endpoint={job_endpoint}", "--environment_type=EXTERNAL",
            f"--environment_config={worker_pool}", f"--sdk_worker_parallelism={parallelism}")


def _portable(given: dict, local_home: bool) -> tuple[str, ...]:
    endpoint = given.get("job_endpoint")
    if not endpoint:
        raise RunnerError("--runner portable needs --job-endpoint HOST:PORT (a Beam job service, e.g. "
                          "`python -m pipelines.engine job-service --port 8099`)")
    for flag, value in (("--job-endpoint", endpoint), ("--worker-pool", given.get("worker_pool"))):
        if value and not _HOST_PORT.fullmatch(value):
            raise RunnerError(f"{flag} {value}: expected HOST:PORT (e.g. localhost:"
                              f"{8099 if flag == '--job-endpoint' else WORKER_POOL_PORT})")
    pool = given.get("worker_pool") or f"{endpoint.rsplit(':', 1)[0].split('://')[-1]}:{WORKER_POOL_PORT}"
    return portable_args(endpoint, pool)


def missing_packages(runner: str) -> list[str]:
    """Python packages a runner needs on this machine that are not installed."""
    needed = {"dask": ("dask", "distributed")}.get(runner, ())
    return [name for name in needed if importlib.util.find_spec(name) is None]


def from_args(args, local_home: bool) -> tuple[str, ...] | None:
    """`--runner` and its options, then `--beam-arg`s -> Beam options; None: neither given (the
    config's local defaults apply)."""
    runner, extra = getattr(args, "runner", None), tuple(getattr(args, "beam_arg", None) or ())
    if runner is None:
        given = _given(args)
        if given:
            raise RunnerError(f"{', '.join(_flag(n) for n in given)}: for a --runner preset; none was given")
        return extra or None
    preset = beam_args(runner, args, local_home)
    missing = missing_packages(runner)
    if missing:
        raise RunnerError(f"--runner {runner} needs the Python packages {', '.join(missing)}, which this environment "
                          f"does not install (Beam's `{runner}` extra)")
    if runner == "dask":
        import apache_beam.runners.dask.dask_runner  # noqa: F401 - registers Beam's --dask_* options
    return preset + extra


def beam_arg_problems(beam_args) -> list[str]:
    """Beam options that Beam would drop or reject, as messages (checked before a run)."""
    from apache_beam.options.pipeline_options import PipelineOptions

    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said):
            given = PipelineOptions(list(beam_args)).get_all_options(retain_unknown_options=True)
    except SystemExit:  # Beam's argparse rejects a value (e.g. not one of its choices): its last line says why
        return ["Beam: " + said.getvalue().strip().splitlines()[-1].split("error: ", 1)[-1]]
    except Exception as error:  # noqa: BLE001 - any other refusal, said as one line
        return [f"Beam rejects {' '.join(beam_args)}: {error}"]
    known = PipelineOptions([]).get_all_options()
    problems = [f"unknown Beam option --{name}" for name in given if name not in known]
    if given.get("direct_running_mode") == "multi_threading":
        problems.append(THREADED_WORKERS_DROP_ELEMENTS)
    return problems


# Beam 2.77's threaded DirectRunner workers buffer their output with a thread that flushes it
# every second (data_plane.TimeBasedBufferingClosableOutputStream) without holding off the
# writer: an element written while a flush is under way is lost, and one cut in two makes the
# runner's GroupByKey fail to decode it ("Invalid PaneInfoEncoding"). Measured with
# scripts/beam_threaded_workers.py: 1 to 3 of 160 elements lost in each of 4 runs; none in
# multi_processing or in_memory, whose workers flush by size only. A run must not lose rows.
THREADED_WORKERS_DROP_ELEMENTS = (
    "--direct_running_mode=multi_threading is refused: Beam's threaded workers can lose elements "
    "(their 1 s flush races the writer; docs/engines.md); use multi_processing (a worker process "
    "per core) or in_memory")
