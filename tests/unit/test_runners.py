"""Beam runner presets (pipelines/runners.py): the options each assembles, checked against Beam's
own option parser, and the CLI's refusals. No job server or cluster can start here (the Flink and
Spark job-server JARs are not obtainable), so nothing is run on them."""

from types import SimpleNamespace

import pytest

from pipelines.runners import DASK_RUNNER, RunnerError, beam_arg_problems, beam_args, from_args, missing_packages


def options(**given):
    return SimpleNamespace(**given)


@pytest.mark.parametrize("runner, given, expected", [
    ("flink", {"flink_master": "flink-jobmanager:8081"},
     ("--runner=FlinkRunner", "--flink_master=flink-jobmanager:8081", "--environment_type=LOOPBACK")),
    ("flink", {"flink_master": "http://10.0.0.5:8081", "worker_image": "registry/tandem:1"},
     ("--runner=FlinkRunner", "--flink_master=http://10.0.0.5:8081", "--environment_type=DOCKER",
      "--environment_config=registry/tandem:1")),
    ("flink", {"flink_master": "[local]"}, ("--runner=FlinkRunner", "--flink_master=[local]",
                                            "--environment_type=LOOPBACK")),
    ("flink", {"job_endpoint": "localhost:8099"},
     ("--runner=PortableRunner", "--job_endpoint=localhost:8099", "--environment_type=LOOPBACK")),
    ("spark", {"spark_master": "spark://spark-master:7077", "worker_image": "registry/tandem:1"},
     ("--runner=SparkRunner", "--spark_master_url=spark://spark-master:7077", "--environment_type=DOCKER",
      "--environment_config=registry/tandem:1")),
    ("spark", {"job_endpoint": "spark-job-server:8099"},
     ("--runner=PortableRunner", "--job_endpoint=spark-job-server:8099", "--environment_type=LOOPBACK")),
    ("dataflow", {"project": "my-project", "region": "us-central1", "temp_location": "gs://bucket/tmp"},
     ("--runner=DataflowRunner", "--project=my-project", "--region=us-central1", "--temp_location=gs://bucket/tmp")),
    ("dataflow", {"project": "p", "region": "r", "temp_location": "gs://b/t", "worker_image": "gcr.io/p/tandem:1"},
     ("--runner=DataflowRunner", "--project=p", "--region=r", "--temp_location=gs://b/t",
      "--sdk_container_image=gcr.io/p/tandem:1")),
    ("dask", {"dask_address": "tcp://dask-scheduler:8786"},
     (f"--runner={DASK_RUNNER}", "--dask_client_address=tcp://dask-scheduler:8786")),
    ("portable", {"job_endpoint": "beam-job-service:8099"},  # the pool: the job service's host, port 50000
     ("--runner=PortableRunner", "--job_endpoint=beam-job-service:8099", "--environment_type=EXTERNAL",
      "--environment_config=beam-job-service:50000", "--sdk_worker_parallelism=0")),
    ("portable", {"job_endpoint": "localhost:8099", "worker_pool": "beam-worker-pool:50001"},
     ("--runner=PortableRunner", "--job_endpoint=localhost:8099", "--environment_type=EXTERNAL",
      "--environment_config=beam-worker-pool:50001", "--sdk_worker_parallelism=0")),
])
def test_presets_assemble_beam_options(runner, given, expected):
    assembled = beam_args(runner, options(**given))
    assert assembled == expected
    if runner != "dask":  # Beam registers --dask_* only where dask is installed
        assert beam_arg_problems(assembled) == []  # every option is Beam's own, with a valid value


@pytest.mark.parametrize("runner, given, message", [
    ("flink", {}, "--runner flink needs --flink-master (its cluster) or --job-endpoint HOST:PORT"),
    ("flink", {"flink_master": "h:8081", "job_endpoint": "h:8099"}, "--flink-master or --job-endpoint, not both"),
    ("flink", {"flink_master": "no-port"}, "--flink-master no-port: expected HOST:PORT"),
    ("spark", {"spark_master": "yarn"}, "--spark-master yarn: expected spark://HOST:PORT"),
    ("spark", {"job_endpoint": "nowhere"}, "--job-endpoint nowhere: expected HOST:PORT of a Beam job server"),
    ("dataflow", {"project": "p"}, "--runner dataflow needs --region, --temp-location"),
    ("dataflow", {"project": "p", "region": "r", "temp_location": "/tmp/x"}, "gs://BUCKET/PATH"),
    ("dask", {}, "--runner dask needs --dask-address tcp://HOST:8786"),
    ("dask", {"dask_address": "tcp://scheduler"}, "expected tcp://HOST:PORT"),
    ("spark", {"flink_master": "h:8081", "spark_master": "spark://h:7077"},
     "--flink-master is for --runner flink, not spark"),
    ("dask", {"dask_address": "tcp://s:8786", "worker_image": "x"},
     "--worker-image is for --runner flink or spark or dataflow, not dask"),
    ("portable", {}, "--runner portable needs --job-endpoint HOST:PORT"),
    ("portable", {"job_endpoint": "h:8099", "worker_pool": "pool"}, "--worker-pool pool: expected HOST:PORT"),
    ("portable", {"job_endpoint": "h:8099", "worker_image": "x"},
     "--worker-image is for --runner flink or spark or dataflow, not portable"),
    ("flink", {"flink_master": "h:8081", "worker_pool": "h:50000"},
     "--worker-pool is for --runner portable, not flink"),
])
def test_missing_or_wrong_options_are_said(runner, given, message):
    with pytest.raises(RunnerError, match=message.replace("(", r"\(").replace(")", r"\)")):
        beam_args(runner, options(**given))


def test_beam_args_come_after_the_preset_and_override_it():
    args = options(runner="flink", flink_master="h:8081", beam_arg=["--parallelism=4", "--environment_type=PROCESS"])
    assembled = from_args(args, local_home=True)
    assert assembled[-2:] == ("--parallelism=4", "--environment_type=PROCESS")
    from apache_beam.options.pipeline_options import PipelineOptions, PortableOptions
    assert PipelineOptions(list(assembled)).view_as(PortableOptions).environment_type == "PROCESS"  # the last wins


def test_without_a_runner():
    assert from_args(options(runner=None, beam_arg=None), local_home=True) is None  # the config's defaults
    assert from_args(options(runner=None, beam_arg=["--direct_num_workers=2"]), local_home=True) == (
        "--direct_num_workers=2",)
    with pytest.raises(RunnerError, match="--flink-master: for a --runner preset; none was given"):
        from_args(options(runner=None, flink_master="h:8081"), local_home=True)


def test_dataflow_cannot_read_a_local_home():
    given = options(runner="dataflow", project="p", region="r", temp_location="gs://b/t")
    with pytest.raises(RunnerError, match="Dataflow's workers cannot read or write this machine's files"):
        from_args(given, local_home=True)
    assert from_args(given, local_home=False)[0] == "--runner=DataflowRunner"


def test_dask_needs_its_packages():
    given = options(runner="dask", dask_address="tcp://s:8786")
    if missing_packages("dask"):
        with pytest.raises(RunnerError, match="--runner dask needs the Python packages dask"):
            from_args(given, local_home=True)
    else:
        assert beam_arg_problems(from_args(given, local_home=True)) == []


def test_the_cli_refuses_bad_presets_before_running(run_cli, tmp_path):
    home = str(tmp_path / "home")
    code, _, err = run_cli("run", "tf", "--home", home, "--runner", "flink")
    assert code == 2 and "--runner flink needs --flink-master" in err
    code, _, err = run_cli("run", "tf", "--home", home, "--runner", "dataflow", "--project", "p", "--region", "r",
                           "--temp-location", "gs://b/t")
    assert code == 2 and "tandem compile --target kfp --runner dataflow" in err
    code, _, err = run_cli("run", "all", "--home", home, "--spark-master", "spark://h:7077")
    assert code == 2 and "--spark-master: for a --runner preset; none was given" in err
    code, _, err = run_cli("run", "tf", "--home", home, "--runner", "portable", "--worker-pool", "h:50000")
    assert code == 2 and "--runner portable needs --job-endpoint" in err
    code, _, err = run_cli("run", "tf", "--home", home, "--runner", "storm")
    assert code == 2 and "invalid choice: 'storm'" in err


def test_local_worker_processes_get_no_sdist_of_tfx_and_other_options_still_do(monkeypatch):
    """TFX packs itself into an sdist for remote workers whenever it is given Beam options,
    unless they say where the workers' code comes from; DirectRunner's worker processes
    import it from this environment (pipelines/config.py)."""
    from tfx.dsl.components.base.base_beam_executor import BaseBeamExecutor
    from tfx.utils import dependency_utils

    from components.ingest import CsvExecutor
    from pipelines.config import LOCAL_BEAM_ARGS, SMALL_INPUT_BEAM_ARGS

    built = []
    monkeypatch.setattr(dependency_utils, "build_ephemeral_package", lambda: built.append(1) or "tfx.tar.gz")
    CsvExecutor(BaseBeamExecutor.Context(beam_pipeline_args=list(LOCAL_BEAM_ARGS)))
    CsvExecutor(BaseBeamExecutor.Context(beam_pipeline_args=list(SMALL_INPUT_BEAM_ARGS)))
    assert built == []
    CsvExecutor(BaseBeamExecutor.Context(beam_pipeline_args=["--direct_running_mode=multi_processing"]))
    assert built == [1]
