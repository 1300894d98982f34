"""pipelines/home.temporary_folder: what code that runs pipelines without a home's lock (the
benchmarks) wraps them in, so that TFX's sdists and Beam's leftovers do not pile up in the
system's temporary folder."""

import os
import subprocess
import sys
import tempfile

import pytest

from pipelines.home import temporary_folder


def test_this_process_and_its_children_write_there_and_it_is_gone_after(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)
    with temporary_folder() as folder:
        made_here = tempfile.mkdtemp()
        child = subprocess.run([sys.executable, "-c", "import tempfile; print(tempfile.mkdtemp())"],
                               capture_output=True, text=True, check=True).stdout.strip()
        assert os.path.dirname(made_here) == os.path.dirname(child) == folder
        assert os.path.dirname(folder) == str(tmp_path)
    assert not os.path.exists(folder) and os.listdir(tmp_path) == []
    assert os.environ["TMPDIR"] == tempfile.gettempdir() == str(tmp_path)


def test_it_is_removed_when_the_block_fails(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)
    with pytest.raises(RuntimeError), temporary_folder() as folder:
        open(os.path.join(folder, "half-written"), "w").close()
        raise RuntimeError("a component failed")
    assert os.listdir(tmp_path) == []
