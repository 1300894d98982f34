"""Publishing a blessed model where a model server watches: atomic, unique, monotonic, once.

A server loads whatever appears in its model folder, so a push must never show it a half-
written or colliding version:
- the version is written under a hidden temporary name in the same folder, then renamed
  into place complete (a rename is atomic within one filesystem; a server ignores names
  that are not versions);
- its number is strictly greater than every version there, whatever the clock says
  (seconds since the epoch, or the newest + 1), chosen under a lock on the folder, so two
  pushes never collide and a clock stepped back never yields a version no server loads;
- a model identical (by content) to the newest version is not pushed again: the push
  answers "already pushed as version N".
A push interrupted at any point leaves only a hidden temporary entry, removed by the next.

Layouts: TF Serving's `<base>/<version>/` folders, and TorchServe's `<store>/<name>-<version>.mar`
files, each with a record `<entry>.push.json` (the content digest, the source) beside it.
"""

import fcntl
import hashlib
import json
import os
import re
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass

PARTIAL_PREFIX = ".partial-"


@dataclass(frozen=True)
class Pushed:
    version: int
    path: str
    new: bool  # False: the newest version already held this model


def content_digest(*paths: str) -> str:
    """sha256 over files (and folders, recursively): relative names and contents."""
    digest = hashlib.sha256()
    for root in paths:
        files = [root] if os.path.isfile(root) else sorted(
            os.path.join(d, f) for d, _, names in os.walk(root) for f in names)
        for path in files:
            digest.update(os.path.relpath(path, root).encode() + b"\0")
            with open(path, "rb") as f:
                while block := f.read(1 << 20):
                    digest.update(block)
            digest.update(b"\0")
    return digest.hexdigest()


@contextmanager
def _locked(folder: str):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, ".push.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released by the kernel if this process dies
        yield


def versions(folder: str, pattern: str) -> dict[int, str]:
    """{version: entry name} of the complete entries in `folder` matching `pattern`
    (a regex with one group: the version number)."""
    found = {}
    for name in os.listdir(folder) if os.path.isdir(folder) else []:
        match = re.fullmatch(pattern, name)
        if match:
            found[int(match.group(1))] = name
    return found


def _record(folder: str, name: str) -> dict:
    try:
        with open(os.path.join(folder, f".{name}.push.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def publish(folder: str, pattern: str, name_of, digest: str, write, source: str = "") -> Pushed:
    """Publish one version into `folder`.

    pattern: regex of a complete entry's name, its group the version (e.g. r"(\\d+)");
    name_of(version) -> the entry's name; write(path): writes the entry at `path` (a
    temporary name in `folder`); digest: the content's digest, to skip identical pushes."""
    with _locked(folder):
        names = set(os.listdir(folder))
        for stale in names:  # what an interrupted push left: nothing else writes here now
            path = os.path.join(folder, stale)
            if stale.startswith(PARTIAL_PREFIX):
                shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
            elif stale.endswith(".push.json") and stale[1:-len(".push.json")] not in names:
                os.remove(path)
        existing = versions(folder, pattern)
        if existing:
            newest = max(existing)
            if _record(folder, existing[newest]).get("digest") == digest:
                return Pushed(newest, os.path.join(folder, existing[newest]), new=False)
        version = max([int(time.time())] + [v + 1 for v in existing])
        name = name_of(version)
        partial = os.path.join(folder, f"{PARTIAL_PREFIX}{name}-{os.getpid()}")
        write(partial)
        _fsync_tree(partial)
        with open(os.path.join(folder, f".{name}.push.json"), "w") as f:
            json.dump({"version": version, "digest": digest, "source": source,
                       "pushed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, f)
        os.rename(partial, os.path.join(folder, name))  # complete, or not there at all
        _fsync_dir(folder)
        return Pushed(version, os.path.join(folder, name), new=True)


def _fsync_tree(path: str) -> None:
    """Data on disk before the rename makes it visible (a crash must not expose empty files)."""
    files = [path] if os.path.isfile(path) else [os.path.join(d, f) for d, _, names in os.walk(path) for f in names]
    for file in files:
        with open(file, "rb") as f:
            os.fsync(f.fileno())


def _fsync_dir(folder: str) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- the two servers' layouts
TF_SERVING_VERSION = r"(\d+)"  # <base>/<version>/


def publish_saved_model(model_dir: str, base: str, source: str = "") -> Pushed:
    """A SavedModel folder -> <base>/<version>/ for TF Serving."""
    return publish(base, TF_SERVING_VERSION, str, content_digest(model_dir),
                   lambda path: shutil.copytree(model_dir, path), source)


def mar_pattern(model_name: str) -> str:
    return re.escape(model_name) + r"-(\d+)\.mar"


def publish_mar(store: str, model_name: str, digest: str, write, source: str = "") -> Pushed:
    """A TorchServe archive -> <store>/<name>-<version>.mar; write(path, version) makes it."""
    version_of = {}

    def name_of(version):
        version_of["v"] = version
        return f"{model_name}-{version}.mar"

    return publish(store, mar_pattern(model_name), name_of, digest,
                   lambda path: write(path, str(version_of["v"])), source)
