"""Pipeline configuration: plain frozen dataclasses, filled by the CLI (or a test)."""

import os
from dataclasses import dataclass, field

from components import datasets
from components.dataset import Dataset
from components.front import FrontConfig
from pipelines.evaluation import EvalConfig
from pipelines.home import metadata_path, pipeline_name
from pipelines.training import TrainConfig

DEFAULT_HOME = "tandem_home"  # relative to where tandem runs; TANDEM_HOME overrides it in the CLI
# Beam on one machine, DirectRunner's engine (FnApiRunner), chosen by the size of the input a
# run reads (`--beam-arg` or `--runner` replace it): one worker process per core for large
# inputs; below SMALL_INPUT, the work in tandem's own process, where starting a worker process
# per core for each of the Beam-based components would cost more than the work
# (bench/pipeline_vs_taxi_example.py).
# In this process the engine is named outright. DirectRunner (SwitchingDirectRunner) would
# first try Beam's Prism runner, a Go binary it downloads from GitHub on first use: where it
# can, the pipelines run on another engine than the one tandem tests; where it cannot (no
# route to GitHub), every Beam component pays for the failed try; and it walks the pipeline
# twice more to choose. Together 0.3-0.9 s per component on 1e4 taxi rows. Worker processes
# keep DirectRunner: it hands them the pipeline options, FnApiRunner alone does not.
# Given any options, TFX packs itself into an sdist for remote workers before every Beam
# component (3.7 s each here), unless the options say where the workers' code comes from.
# DirectRunner's worker processes start from this environment and import TFX and tandem from
# it, so both presets say that with an image, which DirectRunner never pulls (its workers are
# processes, or LOOPBACK on Prism).
LOCAL_WORKERS = "--sdk_container_image=unused-by-direct-runner"
LOCAL_BEAM_ARGS = ("--direct_running_mode=multi_processing", "--direct_num_workers=0", LOCAL_WORKERS)
SMALL_INPUT_BEAM_ARGS = ("--runner=FnApiRunner", LOCAL_WORKERS)
SMALL_INPUT = 32 << 20  # bytes of CSV: about 200k rows of the taxi data


def local_beam_args(input_bytes: int) -> tuple[str, ...]:
    return SMALL_INPUT_BEAM_ARGS if input_bytes < SMALL_INPUT else LOCAL_BEAM_ARGS


@dataclass(frozen=True)
class PipelineConfig:
    front: FrontConfig
    home: str  # pipeline root, metadata store and pushed models live under here
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluation: EvalConfig = field(default_factory=EvalConfig)
    beam_args: tuple[str, ...] = LOCAL_BEAM_ARGS
    enable_cache: bool = True
    # The evaluators' baseline leaves the candidate out (pipelines/wiring.py); the KFP v2
    # compiler knows only TFX's own LatestBlessedModelStrategy (pipelines/kfp.py).
    baseline_excludes_candidate: bool = True

    @property
    def dataset(self) -> Dataset:
        return datasets.load(self.front.dataset)

    @property
    def name(self) -> str:
        """One pipeline (and one metadata store) per dataset, shared by both branches."""
        return pipeline_name(self.front.dataset)

    @property
    def pipeline_root(self) -> str:
        return os.path.join(self.home, "pipelines", self.name)

    @property
    def metadata_path(self) -> str:
        return metadata_path(self.home, self.front.dataset)

    def serving_dir(self, branch_key: str) -> str:
        """Where a branch pushes its models (`tandem_home/serving/<branch>/`)."""
        return os.path.join(self.home, "serving", branch_key)

