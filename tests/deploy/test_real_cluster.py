"""Opt-in: deploy, update, status, rollback, a dry run, a missing namespace and a rollout that times
out, on a REAL cluster, when TANDEM_TEST_KUBECONFIG names a kubeconfig (its current context, or
TANDEM_TEST_CONTEXT). It creates a namespace of its own and deletes it at the end; the servers are
stand-ins (the pause image; the init container only exits): what is tested is tandem's side. The
model source is a folder on this machine, so the pods do not read it. Without a kubeconfig, it
reports itself skipped."""

import os
import uuid

import pytest
from deploy_support import MODEL, V1, V2, push, tandem, write_overlay

pytestmark = [pytest.mark.xdist_group("kubernetes"),
              pytest.mark.skipif(not os.environ.get("TANDEM_TEST_KUBECONFIG"),
                                 reason="no real cluster: set TANDEM_TEST_KUBECONFIG to a kubeconfig to run it")]

PAUSE, INIT = "registry.k8s.io/pause:3.10", "busybox:1.36"


def stand_in(folder, server_image: str = PAUSE) -> str:
    """Our overlay, with images any cluster can pull and an init container that just exits."""
    overlay = write_overlay(folder, "/var/tmp/tandem-test-models")
    for name in ("tf.yaml", "torch.yaml"):
        path = os.path.join(overlay, name)
        with open(path) as f:
            text = f.read()
        for image in ("tensorflow/serving:2.19.1", "pytorch/torchserve:0.12.0-cpu"):
            text = text.replace(image, server_image)
        start = text.index("command: [sh, -c, '")
        text = text[:start] + "command: [sh, -c, 'true']" + text[text.index("\n", start):]
        with open(path, "w") as f:
            f.write(text)
    return overlay


@pytest.fixture
def real(tmp_path, kustomize_bin, monkeypatch):
    from kubernetes import client, config

    kubeconfig, context = os.environ["TANDEM_TEST_KUBECONFIG"], os.environ.get("TANDEM_TEST_CONTEXT")
    monkeypatch.setenv("KUBECONFIG", kubeconfig)
    monkeypatch.setenv("PATH", f"{kustomize_bin}{os.pathsep}{os.environ['PATH']}")
    api = client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig, context=context))
    namespace = f"tandem-test-{uuid.uuid4().hex[:8]}"
    api.create_namespace({"metadata": {"name": namespace}})
    home = tmp_path / "home"
    push(home, V1)
    yield {"ns": ["--namespace", namespace], "namespace": namespace, "home": str(home), "tmp": tmp_path,
           "ctx": ["--context", context] if context else []}
    api.delete_namespace(namespace)


def test_deploy_update_status_rollback_on_a_real_cluster(real):
    overlay, home, ns, ctx = stand_in(real["tmp"] / "overlay"), real["home"], real["ns"], real["ctx"]
    first = tandem("deploy", "--overlay", overlay, "--home", home, "--timeout", "240", *ns, *ctx, timeout=300)
    assert first.returncode == 0, first.stderr
    status = tandem("status", *ns, *ctx)
    assert f"{MODEL} version {V1}, ready" in status.stdout, status.stdout + status.stderr
    push(home, V2)
    update = tandem("deploy", "--overlay", overlay, "--home", home, "--timeout", "240", *ns, *ctx, timeout=300)
    assert update.returncode == 0 and f"version {V2} (was {V1})" in update.stdout, update.stderr
    back = tandem("rollback", "tf", "--timeout", "240", *ns, *ctx, timeout=300)
    assert back.returncode == 0 and f"from version {V2} to {V1}" in back.stdout, back.stderr
    dry = tandem("deploy", "--overlay", overlay, "--home", home, "--dry-run", *ns, *ctx)
    assert dry.returncode == 0 and "the API server accepts all 5 object(s)" in dry.stdout, dry.stderr
    missing = tandem("deploy", "--overlay", overlay, "--home", home, "--namespace", real["namespace"] + "-none", *ctx)
    assert missing.returncode == 1 and "does not exist" in missing.stderr, missing.stderr


def test_a_rollout_that_cannot_finish_on_a_real_cluster(real):
    broken = stand_in(real["tmp"] / "broken", server_image="registry.k8s.io/pause:no-such-tag")
    done = tandem("deploy", "tf", "--overlay", broken, "--home", real["home"], "--timeout", "30", *real["ns"],
                  *real["ctx"], timeout=300)
    assert done.returncode == 1 and "did not finish within 30s" in done.stderr, done.stderr
    assert "ErrImagePull" in done.stderr or "ImagePullBackOff" in done.stderr
