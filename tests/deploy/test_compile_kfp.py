"""`tandem compile --target kfp`: KFP v2 pipeline specs through TFX's KubeflowV2DagRunner, loaded
back with the kfp SDK. Compiling needs no cluster; running the specs needs Kubeflow Pipelines or
Vertex AI Pipelines."""

import os

import pytest
import yaml
from deploy_support import tandem
from helpers import REPO

pytestmark = pytest.mark.xdist_group("kubernetes")

IMAGE = "registry.example.com/tandem:test"


def local_component_ids(branch) -> set[str]:
    """The components of the local pipeline (shared front + one branch), by id."""
    from components.front import FrontConfig
    from pipelines.config import PipelineConfig
    from pipelines.pipeline import create_pipeline

    cfg = PipelineConfig(front=FrontConfig("/data", "/schema.pbtxt"), home="/home")
    return {c.id for c in create_pipeline(cfg, (branch,)).components}


def test_compile_writes_a_spec_per_branch_with_every_component_the_image_and_no_local_path(tmp_path):
    from kfp import components

    from pipelines.branches import BRANCHES

    out, home = tmp_path / "kfp", tmp_path / "home"
    done = tandem("compile", "--target", "kfp", "--image", IMAGE, "--out", str(out), "--home", str(home),
                  timeout=600)
    assert done.returncode == 0, done.stderr
    assert sorted(os.listdir(out)) == ["tandem-taxi-tf.yaml", "tandem-taxi-torch.yaml"]
    for branch in BRANCHES.values():
        path = out / f"tandem-taxi-{branch.cli_name}.yaml"
        text = path.read_text()
        spec = yaml.safe_load(text)
        assert spec["pipelineInfo"]["name"] == f"tandem-taxi-{branch.cli_name}"
        assert spec["schemaVersion"] == "2.1.0"
        tasks = set(spec["root"]["dag"]["tasks"])
        # every component, the blessed-model resolver as KFP's two resolver tasks
        expected = {i for i in local_component_ids(branch) if not i.endswith("LatestBlessedModel")}
        expected |= {f"{branch.component_prefix}LatestBlessedModel-model-blessing-resolver",
                     f"{branch.component_prefix}LatestBlessedModel-model-resolver"}
        assert tasks == expected
        containers = [e["container"] for e in spec["deploymentSpec"]["executors"].values() if "container" in e]
        assert len(containers) == len([t for t in tasks if "Latest" not in t and t != "ValidatedStatisticsHistory"])
        assert {c["image"] for c in containers} == {IMAGE}
        # runtime parameters, not this machine's paths
        parameters = spec["root"]["inputDefinitions"]["parameters"]
        assert parameters["data-root"] == {"parameterType": "STRING"}
        assert parameters["schema-file"]["defaultValue"] == "components/datasets/taxi/schema.pbtxt"
        example_gen = spec["root"]["dag"]["tasks"]["CsvExampleGen"]["inputs"]["parameters"]["input_base"]
        assert example_gen == {"componentInputParameter": "data-root"}
        for local in (REPO, str(tmp_path), str(home), os.getcwd(), "tandem_home", "/root"):
            assert local not in text, f"{local} leaks into {path.name}"
        assert "/tandem/serving/" in text  # where the pushers publish, inside the containers
        loaded = components.load_component_from_file(str(path))  # the kfp SDK accepts it
        assert loaded.name == f"tandem-taxi-{branch.cli_name}"
        assert set(loaded.component_spec.inputs) == {"data-root", "schema-file"}
        assert f"tandem: wrote {path}: KFP v2 pipeline tandem-taxi-{branch.cli_name}, {len(tasks)} tasks, image " \
               f"{IMAGE}" in done.stdout


def test_compile_takes_a_runner_preset_for_vertex_ai(tmp_path):
    from types import SimpleNamespace

    from pipelines.branches import KERAS
    from pipelines.kfp import compile_specs
    from pipelines.runners import from_args

    preset = from_args(SimpleNamespace(runner="dataflow", project="p", region="europe-west4",
                                       temp_location="gs://b/tmp", worker_image=IMAGE), local_home=False)
    written = compile_specs("penguins", (KERAS,), image=IMAGE, out_dir=str(tmp_path), beam_args=preset)
    assert list(written) == [str(tmp_path / "tandem-penguins-tf.yaml")]
    text = (tmp_path / "tandem-penguins-tf.yaml").read_text()
    for option in ("--runner=DataflowRunner", "--project=p", "--region=europe-west4", "--temp_location=gs://b/tmp",
                   f"--sdk_container_image={IMAGE}"):
        assert option in text
    assert "--direct_running_mode" not in text
    assert "components/datasets/penguins/schema.pbtxt" in text
