"""Publishing a pushed model version where the cluster's pods read models first.

A model source is the overlay's choice (deploy/__init__.py): a volume the pods mount, or an
object store. Either way a version lands as `<server>/<model>/<version>/` with the marker
`<server>/<model>/<version>.complete` written last, and a pod's init container copies a
version only when its marker is there:
- a volume (an absolute path: a hostPath, or the folder behind a PVC): the version is copied
  under a hidden temporary name, flushed, and renamed into place (atomic on one filesystem),
  then the marker is written;
- an object store (`gs://`, `s3://`, or `file://` for a store's layout on a local folder):
  objects cannot be renamed as a group, so every file is uploaded first and the marker last
  (the object-store form of the atomic rename). A publish cut short leaves no marker: the
  next one uploads again.
A version already complete in the source with the same content is not copied again; the
same version number with other content (pushed by another home) is refused.
"""

import json
import os
import shutil
from dataclasses import dataclass
from typing import Protocol

from deploy.errors import ModelSourceError

PARTIAL_PREFIX = ".partial-"
MARKER_SUFFIX = ".complete"


# ---------------------------------------------------------------- what the home pushed
@dataclass(frozen=True)
class LocalVersion:
    server: str  # tf | torch
    model: str
    version: int
    path: str  # tf: the SavedModel folder; torch: the .mar file

    def files(self) -> dict[str, str]:
        """{name inside the version's folder in the source: local file}."""
        if self.server == "torch":
            return {f"{self.model}.mar": self.path}
        return {os.path.relpath(os.path.join(d, f), self.path).replace(os.sep, "/"): os.path.join(d, f)
                for d, _, names in os.walk(self.path) for f in names}

    def digest(self) -> str:
        from pipelines.push import content_digest

        return content_digest(self.path)


def pushed(home: str, server: str, model: str) -> dict[int, LocalVersion]:
    """{version: LocalVersion} of what the home's pushers published for `server`."""
    from pipelines.push import TF_SERVING_VERSION, mar_pattern, versions

    if server == "tf":
        folder = os.path.join(home, "serving", "keras", model)
        found = versions(folder, TF_SERVING_VERSION)
    else:
        folder = os.path.join(home, "serving", "torch", "model_store")
        found = versions(folder, mar_pattern(model))
    return {v: LocalVersion(server, model, v, os.path.join(folder, name)) for v, name in found.items()}


# ---------------------------------------------------------------- object stores
class ObjectStore(Protocol):
    """What publishing needs of an object store (keys are '/'-separated, relative to the bucket)."""

    def put_file(self, key: str, path: str) -> None: ...

    def put_bytes(self, key: str, data: bytes) -> None: ...

    def get_bytes(self, key: str) -> bytes | None:  # None: no such object
        ...


class LocalObjectStore:
    """A bucket's layout on a local folder: each object a file, each put whole or not at all
    (written aside, then renamed: as an object store makes an upload visible)."""

    def __init__(self, root: str):
        self.root = root

    def _path(self, key: str) -> str:
        return os.path.join(self.root, *key.split("/"))

    def _put(self, key: str, write) -> None:
        path = self._path(key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        partial = os.path.join(os.path.dirname(path), f"{PARTIAL_PREFIX}{os.path.basename(path)}-{os.getpid()}")
        write(partial)
        os.replace(partial, path)

    def put_file(self, key: str, path: str) -> None:
        self._put(key, lambda target: shutil.copyfile(path, target))

    def put_bytes(self, key: str, data: bytes) -> None:
        def write(target):
            with open(target, "wb") as f:
                f.write(data)
        self._put(key, write)

    def get_bytes(self, key: str) -> bytes | None:
        try:
            with open(self._path(key), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None


class GcsStore:
    """Google Cloud Storage through its official client (google-cloud-storage)."""

    def __init__(self, bucket: str):
        from google.cloud import storage

        self.bucket = storage.Client().bucket(bucket)

    def put_file(self, key: str, path: str) -> None:
        self.bucket.blob(key).upload_from_filename(path)

    def put_bytes(self, key: str, data: bytes) -> None:
        self.bucket.blob(key).upload_from_string(data)

    def get_bytes(self, key: str) -> bytes | None:
        from google.api_core.exceptions import NotFound

        try:
            return self.bucket.blob(key).download_as_bytes()
        except NotFound:
            return None


class S3Store:
    """Amazon S3 through its official client (boto3)."""

    def __init__(self, bucket: str):
        import boto3

        self.client, self.bucket = boto3.client("s3"), bucket

    def put_file(self, key: str, path: str) -> None:
        self.client.upload_file(path, self.bucket, key)

    def put_bytes(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)

    def get_bytes(self, key: str) -> bytes | None:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except self.client.exceptions.NoSuchKey:
            return None


# ---------------------------------------------------------------- the two forms of a source
@dataclass(frozen=True)
class Published:
    version: int
    where: str  # the version's folder in the source
    new: bool  # False: it was complete there already


def _marker(local: LocalVersion, digest: str) -> bytes:
    return json.dumps({"server": local.server, "model": local.model, "version": local.version,
                       "digest": digest, "files": sorted(local.files())}, sort_keys=True).encode()


def _same_content(marker: bytes, digest: str, where: str) -> bool:
    try:
        found = json.loads(marker).get("digest")
    except ValueError:
        found = None
    if found != digest:
        raise ModelSourceError(f"{where} already holds another model under the same version number (digest "
                               f"{str(found)[:12]}, this one {digest[:12]}): was it pushed from another home?")
    return True


class VolumeSource:
    """A folder the pods mount (hostPath, or the folder behind a PVC), written here."""

    def __init__(self, root: str):
        self.uri = self.root = root

    def _folder(self, server: str, model: str) -> str:
        return os.path.join(self.root, server, model)

    def complete(self, server: str, model: str, version: int) -> bool:
        return os.path.exists(os.path.join(self._folder(server, model), f"{version}{MARKER_SUFFIX}"))

    def location(self, server: str, model: str, version: int) -> str:
        return os.path.join(self._folder(server, model), str(version))

    def publish(self, local: LocalVersion) -> Published:
        folder = self._folder(local.server, local.model)
        final = os.path.join(folder, str(local.version))
        marker = os.path.join(folder, f"{local.version}{MARKER_SUFFIX}")
        digest = local.digest()
        try:
            os.makedirs(folder, exist_ok=True)
            if os.path.exists(marker):
                with open(marker, "rb") as f:
                    _same_content(f.read(), digest, final)
                return Published(local.version, final, new=False)
            for name in os.listdir(folder):  # what a publish cut short left: never served (no marker)
                if name.startswith(f"{PARTIAL_PREFIX}{local.version}-") or name == str(local.version):
                    shutil.rmtree(os.path.join(folder, name))
            partial = os.path.join(folder, f"{PARTIAL_PREFIX}{local.version}-{os.getpid()}")
            os.makedirs(partial)
            for name, path in local.files().items():
                target = os.path.join(partial, *name.split("/"))
                os.makedirs(os.path.dirname(target), exist_ok=True)
                shutil.copyfile(path, target)
                _fsync(target)
            os.rename(partial, final)  # complete, or not there at all
            _fsync(folder)
            with open(marker + ".tmp", "wb") as f:
                f.write(_marker(local, digest))
                f.flush()
                os.fsync(f.fileno())
            os.replace(marker + ".tmp", marker)  # last: the init container's go-ahead
            _fsync(folder)
        except OSError as error:
            raise ModelSourceError(f"cannot publish {local.server} version {local.version} to the volume "
                                   f"{self.root}: {error.strerror or error} ({error.filename or folder})") from None
        return Published(local.version, final, new=True)


class ObjectStoreSource:
    """A bucket and a prefix: files first, the completion marker last."""

    def __init__(self, uri: str, store: ObjectStore, prefix: str):
        self.uri, self.store, self.prefix = uri, store, prefix.strip("/")

    def _key(self, *parts) -> str:
        return "/".join(str(p) for p in ((self.prefix,) if self.prefix else ()) + parts)

    def location(self, server: str, model: str, version: int) -> str:
        return f"{self.uri.rstrip('/')}/{server}/{model}/{version}/"

    def complete(self, server: str, model: str, version: int) -> bool:
        return self._get(self._key(server, model, f"{version}{MARKER_SUFFIX}")) is not None

    def _get(self, key: str) -> bytes | None:
        try:
            return self.store.get_bytes(key)
        except Exception as error:  # noqa: BLE001 - any client's failure, said as one line
            raise ModelSourceError(f"cannot read {self.uri}: {type(error).__name__}: {error}") from None

    def publish(self, local: LocalVersion) -> Published:
        where = self.location(local.server, local.model, local.version)
        marker_key = self._key(local.server, local.model, f"{local.version}{MARKER_SUFFIX}")
        digest = local.digest()
        marker = self._get(marker_key)
        if marker is not None:
            _same_content(marker, digest, where)
            return Published(local.version, where, new=False)
        try:
            for name, path in sorted(local.files().items()):
                self.store.put_file(self._key(local.server, local.model, local.version, name), path)
            self.store.put_bytes(marker_key, _marker(local, digest))  # last
        except Exception as error:  # noqa: BLE001 - any client's failure, said as one line
            raise ModelSourceError(f"cannot publish {local.server} version {local.version} to {self.uri}: "
                                   f"{type(error).__name__}: {error}") from None
        return Published(local.version, where, new=True)


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def source_for(uri: str):
    """A model source from the overlay's `tandem.dev/model-source`."""
    if uri.startswith("/"):
        return VolumeSource(uri)
    scheme, _, rest = uri.partition("://")
    if scheme == "file" and rest.startswith("/"):
        return ObjectStoreSource(uri, LocalObjectStore(rest), "")
    bucket, _, prefix = rest.partition("/")
    if scheme in ("gs", "s3") and bucket:
        module, package, make = {"gs": ("google.cloud.storage", "google-cloud-storage", GcsStore),
                                 "s3": ("boto3", "boto3", S3Store)}[scheme]
        try:
            __import__(module)
        except ImportError:
            raise ModelSourceError(f"model source {uri}: {scheme}:// needs the {package} package, which this "
                                   f"environment does not install (pip install {package})") from None
        try:
            return ObjectStoreSource(uri, make(bucket), prefix)
        except Exception as error:  # noqa: BLE001 - credentials and the like, as one line
            raise ModelSourceError(f"model source {uri}: {type(error).__name__}: {error}") from None
    raise ModelSourceError(f"model source {uri!r}: not an absolute path, gs://BUCKET/…, s3://BUCKET/… or file:///…")
