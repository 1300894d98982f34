"""`tandem deploy`, `tandem rollback`, `tandem status` through real processes, over real HTTP,
against a FAKE API server (kmock, tests/deploy/fake_cluster.py): not Kubernetes, so no pods run;
its stand-in Deployment controller marks rollouts done. What a real cluster adds is covered by
test_real_cluster.py, when a kubeconfig is given."""

import json
import os

import pytest
from deploy_support import MODEL, V1, V2, push, tandem, write_overlay

pytestmark = pytest.mark.xdist_group("kubernetes")


def deployments(fake) -> dict:
    return fake.objects("deployments", "demo")


def template_annotation(dep: dict, key: str = "tandem.dev/model-version") -> str:
    return dep["spec"]["template"]["metadata"]["annotations"][key]


def env_of(container: dict) -> dict:
    return {e["name"]: e["value"] for e in container.get("env", [])}


def history(dep: dict) -> list[int]:
    return [e["version"] for e in json.loads(dep["metadata"]["annotations"]["tandem.dev/history"])]


def test_create_publishes_pins_applies_and_waits(world):
    done = tandem("deploy", "--overlay", world["overlay"], "--home", world["home"], "--timeout", "30")
    assert done.returncode == 0, done.stderr
    fake, models = world["fake"], world["models"]
    found = deployments(fake)
    assert set(found) == {"tandem-tf", "tandem-torch"}
    for server, dep in (("tf", found["tandem-tf"]), ("torch", found["tandem-torch"])):
        assert template_annotation(dep) == str(V1)
        assert dep["metadata"]["annotations"]["tandem.dev/model-version"] == str(V1)
        pod = dep["spec"]["template"]["spec"]
        for container in pod["initContainers"] + pod["containers"]:
            assert env_of(container) == {"TANDEM_MODEL_NAME": MODEL, "TANDEM_MODEL_VERSION": str(V1),
                                         "TANDEM_MODEL_SOURCE": models}
        assert history(dep) == [V1]
        assert dep["status"]["observedGeneration"] == dep["metadata"]["generation"]  # rolled out
        # published to the volume: the version's folder, and its completion marker
        assert os.path.isfile(os.path.join(models, server, MODEL, f"{V1}.complete"))
    assert os.path.isfile(os.path.join(models, "tf", MODEL, str(V1), "saved_model.pb"))
    assert os.path.isfile(os.path.join(models, "tf", MODEL, str(V1), "variables", "variables.index"))
    assert os.path.isfile(os.path.join(models, "torch", MODEL, str(V1), f"{MODEL}.mar"))
    assert not [n for n in os.listdir(os.path.join(models, "tf", MODEL)) if n.startswith(".partial")]
    assert set(fake.objects("services", "demo")) == {"tandem-tf", "tandem-torch"}
    assert set(fake.objects("configmaps", "demo")) == {"tandem-settings"}
    out = done.stdout
    assert "version 1700000001 (first deploy)" in out
    assert "rolled out" in out and "deployed in" in out
    assert "kubectl port-forward -n demo svc/tandem-tf 8501:8501, then: tandem query tf --url " \
           "http://127.0.0.1:8501" in out
    assert "tandem query torch --url http://127.0.0.1:8080" in out


def test_update_deploys_a_new_version_as_a_rollout(world):
    assert tandem("deploy", "--overlay", world["overlay"], "--home", world["home"]).returncode == 0
    push(world["home"], V2)
    done = tandem("deploy", "--overlay", world["overlay"], "--home", world["home"], "--timeout", "30")
    assert done.returncode == 0, done.stderr
    tf = deployments(world["fake"])["tandem-tf"]
    assert template_annotation(tf) == str(V2)
    assert history(tf) == [V1, V2]
    assert tf["metadata"]["generation"] == 2  # the template changed: a new rollout
    assert f"version {V2} (was {V1})" in done.stdout
    assert f"tf     demo/tandem-tf version {V2}: waiting for the Deployment controller" in done.stdout  # progress
    assert f"tf     demo/tandem-tf version {V2}: rolled out, 1/1 replicas available" in done.stdout
    assert os.path.isfile(os.path.join(world["models"], "tf", MODEL, f"{V2}.complete"))
    assert os.path.isfile(os.path.join(world["models"], "tf", MODEL, f"{V1}.complete"))  # kept, for rollback
    assert f"deployed before: {V1}" in done.stdout
    again = tandem("deploy", "tf", "--overlay", world["overlay"], "--home", world["home"])
    assert again.returncode == 0, again.stderr
    assert f"tf version {V2} already in" in again.stdout
    assert history(deployments(world["fake"])["tandem-tf"]) == [V1, V2]  # the same version: no new entry
    os.remove(os.path.join(world["models"], "tf", MODEL, f"{V1}.complete"))  # V1 no longer in the source
    back = tandem("rollback", "tf")
    assert back.returncode == 1
    assert f"version {V1} is no longer complete in {world['models']}: publish it again with `tandem deploy tf " \
           f"--overlay {world['overlay']} --version {V1} --namespace demo`" in back.stderr


def test_rollback_re_pins_the_previous_version_from_the_cluster_alone(world, tmp_path):
    assert tandem("deploy", "--overlay", world["overlay"], "--home", world["home"]).returncode == 0
    push(world["home"], V2)
    assert tandem("deploy", "--overlay", world["overlay"], "--home", world["home"]).returncode == 0
    # From another home (another machine): the history is read from the cluster.
    done = tandem("rollback", "tf", "--home", str(tmp_path / "elsewhere"), "--timeout", "30")
    assert done.returncode == 0, done.stderr
    found = deployments(world["fake"])
    tf, torch = found["tandem-tf"], found["tandem-torch"]
    assert template_annotation(tf) == str(V1)
    assert env_of(tf["spec"]["template"]["spec"]["initContainers"][0])["TANDEM_MODEL_VERSION"] == str(V1)
    assert history(tf) == [V1]
    assert tf["spec"]["template"]["spec"]["containers"][0]["image"] == "tensorflow/serving:2.19.1"  # as applied
    assert template_annotation(torch) == str(V2)  # the other server is left alone
    assert f"from version {V2} to {V1}" in done.stdout and "rolled back in" in done.stdout
    again = tandem("rollback", "tf")
    assert again.returncode == 1
    assert f"no earlier version of the tf server to roll back to: tandem deployed only version {V1}" in again.stderr
    both = tandem("rollback", "--timeout", "30")  # all: the servers that have an earlier version
    assert both.returncode == 0, both.stderr
    assert f"tandem: no earlier version of the tf server to roll back to: tandem deployed only version {V1} to " \
           "demo/tandem-tf: left as it is" in both.stdout
    assert template_annotation(deployments(world["fake"])["tandem-torch"]) == str(V1)
    none = tandem("rollback")
    assert none.returncode == 1 and "nothing to roll back: no earlier version of the tf server" in none.stderr


def test_status_shows_versions_readiness_history_and_endpoints(world):
    empty = tandem("status")
    assert empty.returncode == 0, empty.stderr
    assert "no tandem model server in context fake, all namespaces" in empty.stdout
    assert tandem("deploy", "--overlay", world["overlay"], "--home", world["home"]).returncode == 0
    push(world["home"], V2, servers=("torch",))
    assert tandem("deploy", "torch", "--overlay", world["overlay"], "--home", world["home"]).returncode == 0
    done = tandem("status", "--namespace", "demo")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "tandem: model servers in context fake, namespace demo:"
    assert f"tf     demo/tandem-tf: {MODEL} version {V1}, ready (1/1 replicas available)" in done.stdout
    assert f"torch  demo/tandem-torch: {MODEL} version {V2}, ready (1/1 replicas available)" in done.stdout
    assert f"deployed before: {V1} (rollback: tandem rollback torch --namespace demo)" in done.stdout
    assert f"model source: {world['models']}" in done.stdout
    assert "Service demo/tandem-tf (ClusterIP; in the cluster: http://tandem-tf.demo.svc:8501)" in done.stdout


def test_a_load_balancer_endpoint_is_printed_as_it_is(tmp_path, world):
    overlay = write_overlay(tmp_path / "lb", world["models"], service_type="LoadBalancer")
    assert tandem("deploy", "--overlay", overlay, "--home", world["home"]).returncode == 0

    def assign(api):  # what a cloud's load balancer controller does
        for (resource, _, _), obj in api.objects.items():
            if resource.plural == "services":
                obj.patch({"status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}})
    world["fake"].call(assign)
    done = tandem("status")
    assert "tandem query tf --url http://203.0.113.7:8501" in done.stdout
    assert "tandem query torch --url http://203.0.113.7:8080" in done.stdout


def test_conflict_is_said_and_nothing_changes(world):
    world["fake"].call(lambda api: api.fail(
        "PATCH", r"/deployments/tandem-tf$", 409, "Conflict",
        'Apply failed with 1 conflict: conflict with "kubectl-scale" using apps/v1: .spec.replicas'))
    done = tandem("deploy", "--overlay", world["overlay"], "--home", world["home"])
    assert done.returncode == 1
    assert "conflict (409) trying to apply Deployment demo/tandem-tf (server-side dry run): Apply failed with 1 " \
           'conflict: conflict with "kubectl-scale"' in done.stderr
    assert "--force-conflicts" in done.stderr
    assert not os.path.exists(world["models"])  # checked before publishing
    assert deployments(world["fake"]) == {}


def test_forbidden_is_said(world):
    world["fake"].call(lambda api: api.fail(
        "PATCH", r"/deployments/", 403, "Forbidden",
        'deployments.apps "tandem-tf" is forbidden: User "dev" cannot patch resource "deployments" in API group '
        '"apps" in the namespace "demo"'))
    done = tandem("deploy", "--overlay", world["overlay"], "--home", world["home"])
    assert done.returncode == 1
    assert "permission denied (403 Forbidden) to apply Deployment demo/tandem-tf" in done.stderr
    assert 'User "dev" cannot patch resource "deployments"' in done.stderr
    assert "kubectl auth can-i" in done.stderr


def test_a_missing_namespace_is_said(world):
    done = tandem("deploy", "--overlay", world["overlay"], "--home", world["home"], "--namespace", "nope")
    assert done.returncode == 1
    assert "the namespace 'nope' does not exist (context fake): create it (kubectl create namespace nope)" \
           in done.stderr
    assert not os.path.exists(world["models"])


def test_no_cluster_reachable(world, tmp_path):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp_path / "unreachable"
    with open(world["kubeconfig"]) as f:
        config.write_text(f.read().replace(world["fake"].url, f"http://127.0.0.1:{port}"))
    done = tandem("deploy", "--overlay", world["overlay"], "--home", world["home"], env={"KUBECONFIG": str(config)})
    assert done.returncode == 1
    assert f"cannot reach the Kubernetes API server at http://127.0.0.1:{port} (context fake): Connection refused" \
           in done.stderr
    missing = tandem("status", env={"KUBECONFIG": str(tmp_path / "none")})
    assert missing.returncode == 1
    assert "no kubeconfig at" in missing.stderr and "not inside a pod" in missing.stderr
    context = tandem("status", "--context", "prod")
    assert context.returncode == 1 and "--context prod: no such context" in context.stderr


def test_a_rollout_that_never_becomes_ready_times_out_and_says_what_runs(world):
    assert tandem("deploy", "--overlay", world["overlay"], "--home", world["home"]).returncode == 0
    fake = world["fake"]
    fake.call(lambda api: api.stuck.add("tandem-tf"))
    push(world["home"], V2)
    pods = {"old": (V1, {"conditions": [{"type": "Ready", "status": "True"}], "phase": "Running"}),
            "new": (V2, {"phase": "Pending", "initContainerStatuses": [{"name": "fetch-model", "state": {"waiting": {
                "reason": "ImagePullBackOff", "message": 'Back-off pulling image "busybox:1.36"'}}}]})}

    def add_pods(api):  # what the ReplicaSets would have started
        for name, (version, status) in pods.items():
            api.objects["v1/pods", "demo", f"tandem-tf-{name}"] = {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": f"tandem-tf-{name}", "namespace": "demo", "labels": {"app": "tandem-tf"},
                             "annotations": {"tandem.dev/model-version": str(version)}},
                "status": status}
    fake.call(add_pods)
    done = tandem("deploy", "tf", "--overlay", world["overlay"], "--home", world["home"], "--timeout", "3")
    assert done.returncode == 1
    err = done.stderr
    assert f"the tf rollout of version {V2} (demo/tandem-tf) did not finish within 3s" in err
    assert f"pod tandem-tf-old (version {V1}): ready" in err
    assert f"pod tandem-tf-new (version {V2}): container fetch-model waiting: ImagePullBackOff" in err
    assert f"left running: 1 pod(s) of version {V1} and 1 of version {V2} (1 available in all): the old pods keep " \
           "serving" in err
    assert "or go back: tandem rollback tf --namespace demo" in err
    assert template_annotation(deployments(fake)["tandem-tf"]) == str(V2)  # left pinned, Kubernetes keeps trying
    back = tandem("rollback", "tf", "--timeout", "2")  # stuck too: going back is deploying V2 again
    assert back.returncode == 1
    assert f"the tf rollout of version {V1} (demo/tandem-tf) did not finish within 2s" in back.stderr
    assert f"or go back: tandem deploy tf --overlay {world['overlay']} --version {V2} --namespace demo" in back.stderr


def test_dry_run_changes_nothing(world):
    done = tandem("deploy", "--overlay", world["overlay"], "--home", world["home"], "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "the API server accepts all 5 object(s); nothing was published or applied" in done.stdout
    assert f"would publish tf version {V1} to {world['models']}/tf/{MODEL}/{V1}" in done.stdout
    assert "would apply Deployment demo/tandem-tf" in done.stdout
    assert deployments(world["fake"]) == {} and not os.path.exists(world["models"])


def test_object_store_source_and_the_overlay_namespace(world, tmp_path):
    bucket = tmp_path / "bucket"
    world["fake"].call(lambda api: api.namespaces.add("shop"))
    overlay = write_overlay(tmp_path / "store", f"file://{bucket}", namespace="shop")
    done = tandem("deploy", "--overlay", overlay, "--home", world["home"])
    assert done.returncode == 0, done.stderr
    assert set(world["fake"].objects("deployments", "shop")) == {"tandem-tf", "tandem-torch"}  # the overlay's
    assert (bucket / "tf" / MODEL / str(V1) / "saved_model.pb").is_file()
    marker = json.loads((bucket / "torch" / MODEL / f"{V1}.complete").read_text())
    assert marker["files"] == [f"{MODEL}.mar"] and marker["version"] == V1


def test_bad_arguments_are_usage_errors(world, tmp_path):
    missing = tandem("deploy", "--overlay", "no-such-overlay", "--home", world["home"])
    assert missing.returncode == 1 and "--overlay no-such-overlay: no kustomization" in missing.stderr
    version = tandem("deploy", "--overlay", world["overlay"], "--home", world["home"], "--version", "42")
    assert version.returncode == 2
    assert f"--version 42: the tf branch did not push it under {world['home']} (pushed: {V1})" in version.stderr
    nothing = tandem("deploy", "--overlay", world["overlay"], "--home", str(tmp_path / "empty"))
    assert nothing.returncode == 2 and "run `tandem run tf` first" in nothing.stderr
    no_kustomize = tandem("deploy", "--overlay", world["overlay"], "--home", world["home"],
                          env={"PATH": os.path.dirname(os.__file__)})  # neither kustomize nor kubectl there
    assert no_kustomize.returncode == 1
    assert "neither kustomize nor kubectl is on PATH" in no_kustomize.stderr


def test_an_overlay_that_creates_its_namespace(world, tmp_path):
    overlay = write_overlay(tmp_path / "fresh", world["models"], namespace="fresh", namespace_object=True)
    dry = tandem("deploy", "--overlay", overlay, "--home", world["home"], "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "accepts 1 object(s) (and 5 more in namespaces this overlay creates" in dry.stdout
    assert "namespace fresh" in dry.stdout.splitlines()[0]
    done = tandem("deploy", "--overlay", overlay, "--home", world["home"])
    assert done.returncode == 0, done.stderr
    assert "tandem: created Namespace fresh" in done.stdout
    assert set(world["fake"].objects("deployments", "fresh")) == {"tandem-tf", "tandem-torch"}


def test_unauthorized_and_status_where_listing_all_namespaces_is_forbidden(world):
    assert tandem("deploy", "--overlay", world["overlay"], "--home", world["home"]).returncode == 0
    world["fake"].call(lambda api: api.fail("GET", r"^/apis/apps/v1/deployments$", 403, "Forbidden",
                                            'deployments.apps is forbidden: User "dev" cannot list resource '
                                            '"deployments" in API group "apps" at the cluster scope'))
    done = tandem("status")
    assert done.returncode == 0, done.stderr
    assert "model servers in context fake, namespace demo:" in done.stdout  # the context's namespace instead
    assert f"tf     demo/tandem-tf: {MODEL} version {V1}" in done.stdout
    world["fake"].call(lambda api: api.fail("GET", r"^/version/$", 401, "Unauthorized", "Unauthorized"))
    refused = tandem("status")
    assert refused.returncode == 1
    assert "refused the credentials of context fake (401 Unauthorized)" in refused.stderr
