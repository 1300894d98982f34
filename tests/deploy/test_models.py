"""Publishing versions where the pods read models: a volume (rename into place, then the marker)
and an object store (every file, then the marker last), through a local-filesystem store."""

import json
import os

import pytest
from deploy_support import MODEL, V1, V2, push

from deploy import models
from deploy.errors import ModelSourceError

pytestmark = pytest.mark.xdist_group("kubernetes")


class RecordingStore(models.LocalObjectStore):
    """The local-filesystem store, remembering the order of its writes; it can fail the n-th."""

    def __init__(self, root, fail_at: int | None = None):
        super().__init__(root)
        self.writes, self.fail_at = [], fail_at

    def _put(self, key, write):
        if self.fail_at is not None and len(self.writes) == self.fail_at:
            raise ConnectionError("network down")
        super()._put(key, write)
        self.writes.append(key)


def test_pushed_versions_of_a_home(tmp_path):
    push(tmp_path, V1)
    push(tmp_path, V2, servers=("tf",))
    assert sorted(models.pushed(str(tmp_path), "tf", MODEL)) == [V1, V2]
    assert sorted(models.pushed(str(tmp_path), "torch", MODEL)) == [V1]
    assert models.pushed(str(tmp_path), "torch", MODEL)[V1].files() == {
        f"{MODEL}.mar": str(tmp_path / "serving" / "torch" / "model_store" / f"{MODEL}-{V1}.mar")}
    assert set(models.pushed(str(tmp_path), "tf", MODEL)[V1].files()) == {"saved_model.pb", "variables/variables.index"}


def test_volume_renames_into_place_then_marks_complete(tmp_path):
    push(tmp_path / "home", V1)
    local = models.pushed(str(tmp_path / "home"), "tf", MODEL)[V1]
    source = models.source_for(str(tmp_path / "volume"))
    assert isinstance(source, models.VolumeSource)
    folder = tmp_path / "volume" / "tf" / MODEL
    folder.mkdir(parents=True)
    (folder / f".partial-{V1}-999").mkdir()  # what a publish killed half-way left
    (folder / str(V1)).mkdir()  # renamed into place, killed before its marker: not served
    done = source.publish(local)
    assert done.new and done.where == str(folder / str(V1))
    assert sorted(os.listdir(folder)) == [str(V1), f"{V1}.complete"]
    assert (folder / str(V1) / "variables" / "variables.index").read_bytes() == f"weights {V1}".encode()
    assert json.loads((folder / f"{V1}.complete").read_text())["digest"] == local.digest()
    assert source.complete("tf", MODEL, V1)
    assert not source.publish(local).new  # complete already: not copied again


def test_the_same_version_with_other_content_is_refused(tmp_path):
    push(tmp_path / "a", V1)
    push(tmp_path / "b", V1)
    (tmp_path / "b" / "serving" / "keras" / MODEL / str(V1) / "saved_model.pb").write_bytes(b"another model")
    source = models.source_for(str(tmp_path / "volume"))
    source.publish(models.pushed(str(tmp_path / "a"), "tf", MODEL)[V1])
    with pytest.raises(ModelSourceError, match="already holds another model under the same version number"):
        source.publish(models.pushed(str(tmp_path / "b"), "tf", MODEL)[V1])


def test_object_store_writes_the_marker_last(tmp_path):
    push(tmp_path / "home", V1)
    local = models.pushed(str(tmp_path / "home"), "tf", MODEL)[V1]
    store = RecordingStore(str(tmp_path / "bucket"))
    source = models.ObjectStoreSource("gs://bucket/models", store, "models")
    done = source.publish(local)
    assert done.new and done.where == f"gs://bucket/models/tf/{MODEL}/{V1}/"
    folder = f"models/tf/{MODEL}"
    assert store.writes == [f"{folder}/{V1}/saved_model.pb", f"{folder}/{V1}/variables/variables.index",
                            f"{folder}/{V1}.complete"]
    assert source.complete("tf", MODEL, V1)
    assert not source.publish(local).new and len(store.writes) == 3


def test_an_upload_cut_short_leaves_no_marker_and_the_next_completes_it(tmp_path):
    push(tmp_path / "home", V1)
    local = models.pushed(str(tmp_path / "home"), "torch", MODEL)[V1]
    broken = models.ObjectStoreSource("s3://bucket", RecordingStore(str(tmp_path / "bucket"), fail_at=1), "")
    push(tmp_path / "home", V1, servers=("tf",))
    tf = models.pushed(str(tmp_path / "home"), "tf", MODEL)[V1]
    with pytest.raises(ModelSourceError, match="cannot publish tf version .* to s3://bucket: ConnectionError: network"):
        broken.publish(tf)
    assert not broken.complete("tf", MODEL, V1)  # one file there, no marker: an init container waits
    source = models.ObjectStoreSource("s3://bucket", RecordingStore(str(tmp_path / "bucket")), "")
    assert source.publish(tf).new and source.complete("tf", MODEL, V1)
    assert source.publish(local).new
    assert (tmp_path / "bucket" / "torch" / MODEL / str(V1) / f"{MODEL}.mar").read_bytes() == f"archive {V1}".encode()


def test_file_uri_is_the_object_store_form_on_a_local_folder(tmp_path):
    source = models.source_for(f"file://{tmp_path}/bucket")
    assert isinstance(source, models.ObjectStoreSource) and isinstance(source.store, models.LocalObjectStore)


def test_sources_that_cannot_be_used_are_said(tmp_path):
    with pytest.raises(ModelSourceError, match="not an absolute path, gs://BUCKET/…, s3://BUCKET/… or file:///"):
        models.source_for("models/relative")
    try:
        import boto3  # noqa: F401
    except ImportError:
        with pytest.raises(ModelSourceError, match=r"s3:// needs the boto3 package, which this environment does not "
                                                   r"install \(pip install boto3\)"):
            models.source_for("s3://bucket/models")
    (tmp_path / "a-file").write_text("not a folder")
    push(tmp_path / "home", V1)
    with pytest.raises(ModelSourceError, match=f"cannot publish tf version {V1} to the volume .*a-file"):
        models.source_for(str(tmp_path / "a-file")).publish(models.pushed(str(tmp_path / "home"), "tf", MODEL)[V1])
