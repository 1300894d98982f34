"""`tandem run`, `tandem schema draft`, `tandem data generate`: the pipelines and their data."""

import os

from pipelines.home import hold, scratch
from tandem.exits import FAILED, INVALID_DATA, OK, UsageError
from tandem.inputs import beam_options, bundled, dataset, input_bytes, input_files, schema_file, writable_home
from tandem.logs import logs_to_file


def pipeline_config(args, home: str):
    from components.front import FrontConfig
    from components.validate import stage_schema
    from pipelines.config import PipelineConfig, local_beam_args
    from pipelines.training import TrainConfig

    input_base, pattern = input_files(args.data, args.input_pattern, bundled(args, home))
    schema = stage_schema(schema_file(args), os.path.join(home, "schemas"))
    return PipelineConfig(
        front=FrontConfig(input_base, schema, input_pattern=pattern, dataset=args.dataset),
        home=home,
        train=TrainConfig(**{k: getattr(args, k) for k in ("train_steps", "batch_size") if getattr(args, k)}),
        enable_cache=not args.no_cache,
        beam_args=beam_options(args, local_home=True) or local_beam_args(input_bytes(input_base, pattern)),
    )


def _engine(beam_args) -> str:
    """What the Beam options pick, in words, for the run's header."""
    from pipelines.config import LOCAL_BEAM_ARGS, SMALL_INPUT, SMALL_INPUT_BEAM_ARGS

    if tuple(beam_args) == SMALL_INPUT_BEAM_ARGS:
        return (f"DirectRunner in this process (the input is under {SMALL_INPUT >> 20} MiB; "
                "--beam-arg=--direct_running_mode=multi_processing for a worker process per core)")
    if tuple(beam_args) == LOCAL_BEAM_ARGS:
        return f"DirectRunner, a worker process per core (the input is {SMALL_INPUT >> 20} MiB or more)"
    return " ".join(beam_args)


def run(args) -> int:
    home = writable_home(args.home)
    # Bad arguments first, before TensorFlow's imports take their seconds.
    input_files(args.data, args.input_pattern, bundled(args, home))
    schema_file(args)
    beam_options(args, local_home=True)
    with hold(home, f"tandem run {args.pipeline}", args.wait) as run_id, scratch(run_id), \
            logs_to_file(home, f"run-{args.pipeline}", args.verbose) as (terminal, log):
        # Imported here, after stderr went to the log: TensorFlow talks a lot on import.
        from pipelines.imports import without_pytorch

        without_pytorch()  # this process runs TFX's components; PyTorch runs in processes of its own
        from components.validate import DataValidationError
        from pipelines.branches import by_cli_name
        from pipelines.pipeline import create_pipeline
        from pipelines.runner import PipelineError, run_pipeline
        from reporting.summary import run_summary

        cfg = pipeline_config(args, home)
        branches = by_cli_name(args.pipeline)
        source = os.path.join(cfg.front.input_base, cfg.front.input_pattern)
        print(f"tandem: run {run_id}: the shared front, then {' and '.join(b.title for b in branches)}, "
              f"on {source} (dataset {cfg.front.dataset})")
        print(f"tandem: outputs under {cfg.home}" + (f"; full log in {log}" if log else ""))
        print(f"tandem: Beam: {_engine(cfg.beam_args)}")
        try:
            seconds = run_pipeline(create_pipeline(cfg, branches), run_id=run_id, verbose=args.verbose,
                                   workers=len(branches) - 1,  # each branch beyond one in a process of its own
                                   spares=tuple(b.spare for b in branches if b.spare))
        except DataValidationError as error:
            print(f"tandem: STOPPED by the validation gate: nothing was trained or pushed.\n{error}", file=terminal)
            return INVALID_DATA
        except PipelineError as error:
            if error.component == "CsvExampleGen":
                print(f"tandem: could not read the CSV input {source}", file=terminal)
            print(f"tandem: FAILED: {error}\nnothing was trained or pushed after it."
                  + (f" Full log: {log}" if log else ""), file=terminal)
            return FAILED
        print(f"tandem: finished in {seconds:.1f}s")
        for line in run_summary(cfg.metadata_path, run_id).lines():
            print(f"  {line}")
    return OK


def schema_draft(args) -> int:
    home = writable_home(args.home)
    with hold(home, "tandem schema draft", args.wait) as run_id, scratch(run_id), \
            logs_to_file(home, "schema-draft", args.verbose) as (terminal, _):
        from pipelines.imports import without_pytorch

        without_pytorch()
        from pipelines.runner import PipelineError
        from pipelines.schema_draft import write_schema_draft

        input_base, pattern = input_files(args.data, bundled_data=bundled(args, home))
        out = os.path.abspath(args.out)
        if not os.path.isdir(os.path.dirname(out)):
            raise UsageError(f"--out {args.out}: no such folder {os.path.dirname(out)}")
        try:
            path = write_schema_draft(input_base, pattern, home, out)
        except PipelineError as error:
            print(f"tandem: FAILED: {error}", file=terminal)
            return FAILED
    print(f"tandem: wrote a SchemaGen draft to {path}; review it against {dataset(args).schema_path} before adopting")
    return OK


def data_generate(args) -> int:
    from components.data import generate

    home = writable_home(args.home)
    out = os.path.abspath(args.out)
    with hold(home, "tandem data generate", args.wait):
        source = bundled(args, home)()
        try:
            generate(dataset(args), source, args.rows, out, seed=args.seed)
        except OSError as error:
            raise UsageError(f"--out {args.out}: cannot write it ({error.strerror})") from None
    print(f"tandem: wrote {out} ({args.rows:,} rows)")
    return OK


def clean(args) -> int:
    from pipelines.home import metadata_path, pipeline_name

    home = os.path.abspath(args.home)
    path = metadata_path(home, args.dataset)
    if not os.path.exists(path):
        raise UsageError(f"--home {home}: no runs of dataset {args.dataset} recorded there")
    with hold(home, f"tandem clean --keep {args.keep}", args.wait):  # also ends a killed run's processes
        from pipelines.cleanup import clean as free_home

        freed = free_home(home, path, os.path.join(home, "pipelines", pipeline_name(args.dataset)), args.keep)
    print(f"tandem: kept what the last {args.keep} run(s) and the newest pushed versions use; removed "
          f"{freed.artifacts} pipeline output(s) (marked DELETED in ML Metadata) and {len(freed.versions)} pushed "
          f"version(s): {freed.bytes / 1e6:.1f} MB freed")
    for version in freed.versions:
        print(f"  - {version}")
    return OK
