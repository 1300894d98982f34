"""Where a component's Beam pipeline runs, read from the Beam options it was given."""

from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

IN_MEMORY_RUNNERS = {None, "DirectRunner", "direct", "BundleBasedDirectRunner", "SwitchingDirectRunner", "FnApiRunner"}


def runs_in_memory(beam_args: list[str]) -> bool:
    """Whether the Beam options pick DirectRunner or its in-process engine (one machine's
    memory and local disk)."""
    return PipelineOptions(beam_args).view_as(StandardOptions).runner in IN_MEMORY_RUNNERS


def runs_in_this_process(beam_args: list[str]) -> bool:
    """DirectRunner's engine, with its one worker in this process."""
    direct = PipelineOptions(beam_args).view_as(DirectOptions)
    return runs_in_memory(beam_args) and direct.direct_running_mode == "in_memory" and direct.direct_num_workers == 1
