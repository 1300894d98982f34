"""`tandem clean --keep N`: free a home of what nothing needs any more.

Kept: every artifact the last N runs read or wrote (a cached run reads and writes the
artifacts it reuses, so the models, statistics and blessings that the cache and the
resolvers would pick up next are kept), the pushed versions those runs pushed, and the
newest pushed version of each model. Removed: other pipeline outputs (marked DELETED in ML
Metadata, so TFX's cache and resolvers never pick them again), other pushed versions, and
the executors' scratch folders of other executions. Logs stay.
"""

import os
import re
import shutil
from dataclasses import dataclass, field

from ml_metadata.proto import metadata_store_pb2

from pipelines.metadata import Metadata
from pipelines.push import TF_SERVING_VERSION


@dataclass
class Freed:
    artifacts: int = 0
    versions: list[str] = field(default_factory=list)
    bytes: int = 0


def _size(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def _remove(path: str, freed: Freed) -> None:
    if os.path.lexists(path):
        freed.bytes += _size(path)
        shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.remove(path)


def _versions_in(folder: str) -> dict[str, list[str]]:
    """{model: [entries]} for TF Serving version folders and TorchServe archives under `folder`."""
    found: dict[str, list[str]] = {}
    for directory, subdirs, files in os.walk(folder):
        for name in subdirs:
            if re.fullmatch(TF_SERVING_VERSION, name):
                found.setdefault(directory, []).append(os.path.join(directory, name))
        subdirs[:] = [d for d in subdirs if not re.fullmatch(TF_SERVING_VERSION, d)]
        for name in files:
            match = re.fullmatch(r"(.+)-(\d+)\.mar", name)
            if match:
                found.setdefault(os.path.join(directory, match.group(1)), []).append(os.path.join(directory, name))
    return found


def _version_number(path: str) -> int:
    return int(re.findall(r"(\d+)", os.path.basename(path))[-1])


def clean(home: str, metadata_path: str, pipeline_root: str, keep: int) -> Freed:
    freed = Freed()
    metadata = Metadata(metadata_path)
    runs = sorted(metadata.store.get_contexts_by_type("pipeline_run"), key=lambda c: (c.create_time_since_epoch, c.id))
    kept_executions = [e for run in runs[-keep:] for e in metadata.store.get_executions_by_context(run.id)]
    kept_ids = {e.id for e in kept_executions}
    events = metadata.store.get_events_by_execution_ids(list(kept_ids))
    referenced = {e.artifact_id for e in events}
    pushed = set()
    for artifact in metadata.store.get_artifacts_by_id(list(referenced)):
        destination = artifact.custom_properties.get("pushed_destination")
        if destination is not None:
            pushed.add(os.path.realpath(destination.string_value))

    doomed = [a for a in metadata.store.get_artifacts()
              if a.id not in referenced and a.state != metadata_store_pb2.Artifact.DELETED
              and a.uri.startswith(os.path.join(pipeline_root, ""))]
    for artifact in doomed:
        _remove(artifact.uri, freed)
        artifact.state = metadata_store_pb2.Artifact.DELETED
    metadata.store.put_artifacts(doomed)
    freed.artifacts = len(doomed)

    for directory, _, _ in list(os.walk(pipeline_root)):  # the executors' scratch folders
        if os.path.basename(directory) == "executor_execution":
            for execution in os.listdir(directory):
                if execution.isdigit() and int(execution) not in kept_ids:
                    _remove(os.path.join(directory, execution), freed)

    for entries in _versions_in(os.path.join(home, "serving")).values():
        newest = max(entries, key=_version_number)
        for entry in entries:
            if entry != newest and os.path.realpath(entry) not in pushed:
                _remove(entry, freed)
                record = os.path.join(os.path.dirname(entry), f".{os.path.basename(entry)}.push.json")
                if os.path.exists(record):
                    os.remove(record)
                freed.versions.append(entry)
    return freed
