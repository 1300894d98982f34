"""Fixtures for the Kubernetes side: a FAKE API server (fake_cluster.py, kmock), a kubeconfig that
points at it, a home with pushed models, small manifests of our own, and a stand-in `kustomize`."""

import os
import stat

import pytest
from deploy_support import FAKE_KUSTOMIZE, V1, push, write_overlay
from fake_cluster import FakeCluster


@pytest.fixture
def fake():
    cluster = FakeCluster()
    cluster.call(lambda api: api.namespaces.add("demo"))
    yield cluster
    cluster.close()


@pytest.fixture
def kustomize_bin(tmp_path):
    """A folder holding the stand-in `kustomize`, for PATH."""
    folder = tmp_path / "bin"
    folder.mkdir()
    path = folder / "kustomize"
    path.write_text(FAKE_KUSTOMIZE)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(folder)


@pytest.fixture
def world(tmp_path, fake, kustomize_bin, monkeypatch):
    """A home with version V1 pushed, an overlay publishing to a volume, and the fake cluster
    in the kubeconfig (context namespace `demo`)."""
    home, models = tmp_path / "home", tmp_path / "models"
    push(home, V1)
    overlay = write_overlay(tmp_path / "overlay", str(models))
    kubeconfig = fake.kubeconfig(tmp_path / "kubeconfig", namespace="demo")
    monkeypatch.setenv("KUBECONFIG", kubeconfig)
    monkeypatch.setenv("PATH", f"{kustomize_bin}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the client's discovery cache goes there
    return {"home": str(home), "models": str(models), "overlay": overlay, "fake": fake, "kubeconfig": kubeconfig}
