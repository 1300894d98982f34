"""What the schemas cannot see, in every rendering: selectors match, probes and Services use
declared ports, GPU pools are asked for (or not) consistently, images are pinned, every container
runs restricted, the token lives only in a Secret, and TorchServe's management API stays inside
the pod."""

import os
import re

import pytest
from k8s_support import GPU, OVERLAYS, RENDERINGS, REPO, containers, pod_specs

pytestmark = pytest.mark.xdist_group("k8s")

SERVER_CONTAINERS = {"tfserving", "torchserve", "kserve-container", "kserve-model"}
MANAGEMENT_PORT = 8081
TOKEN_SECRET = "tandem-serving-token"


def _workloads(objects):
    return [o for o in objects if pod_specs(o)]


def _template_labels(obj):
    if obj["kind"] == "InferenceService":
        return {"serving.kserve.io/inferenceservice": obj["metadata"]["name"]}
    return obj["spec"]["template"]["metadata"].get("labels", {})


def _matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", selector).items()
               if k != "matchExpressions")


def _declared_ports(container: dict) -> set:
    ports = container.get("ports", [])
    return {p["containerPort"] for p in ports} | {p["name"] for p in ports if "name" in p}


@pytest.mark.parametrize("name", RENDERINGS)
def test_selectors_match_template_labels(render, name):
    objects = render(name)
    workloads = [o for o in _workloads(objects) if o["kind"] == "Deployment"]
    for w in workloads:
        selector = w["spec"]["selector"]["matchLabels"]
        assert selector and _matches(selector, _template_labels(w)), f"{w['metadata']['name']}: selector {selector}"
    templates = [_template_labels(w) for w in _workloads(objects)]
    for o in objects:
        if o["kind"] == "Service":
            assert any(_matches(o["spec"]["selector"], t) for t in templates), f"Service {o['metadata']['name']}"
        if o["kind"] == "PodDisruptionBudget":
            assert any(_matches(o["spec"]["selector"], t) for t in templates), f"PDB {o['metadata']['name']}"
        if o["kind"] == "HorizontalPodAutoscaler":
            ref = o["spec"]["scaleTargetRef"]
            assert any(w["kind"] == ref["kind"] and w["metadata"]["name"] == ref["name"] for w in workloads)
        if o["kind"] == "NetworkPolicy" and o["spec"]["podSelector"].get("matchLabels"):
            assert any(_matches(o["spec"]["podSelector"], t) for t in templates) or "kserve" not in name and not \
                workloads, f"NetworkPolicy {o['metadata']['name']} selects no pod"


@pytest.mark.parametrize("name", RENDERINGS)
def test_probes_and_services_use_declared_ports(render, name):
    objects = render(name)
    for w in _workloads(objects):
        for spec in pod_specs(w):
            for c in containers(spec):
                declared = _declared_ports(c)
                for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                    if probe not in c:
                        continue
                    action = next(c[probe][a] for a in ("httpGet", "tcpSocket", "grpc") if a in c[probe])
                    assert action["port"] in declared, f"{c['name']}.{probe} port {action['port']} not declared"
                if c["name"] in SERVER_CONTAINERS | {"auth-proxy"}:
                    assert "readinessProbe" in c and "livenessProbe" in c, f"{c['name']} lacks probes"
    for svc in (o for o in objects if o["kind"] == "Service"):
        pods = [spec for w in _workloads(objects) for spec in pod_specs(w)
                if _matches(svc["spec"]["selector"], _template_labels(w))]
        declared = {p for spec in pods for c in spec["containers"] for p in _declared_ports(c)}
        for port in svc["spec"]["ports"]:
            assert port.get("targetPort", port["port"]) in declared, f"Service {svc['metadata']['name']}: {port}"


def _server_containers(objects):
    return [(w, spec, c) for w in _workloads(objects) for spec in pod_specs(w) for c in containers(spec)
            if c["name"] in SERVER_CONTAINERS]


@pytest.mark.parametrize("name", RENDERINGS)
def test_gpu_pools(render, name):
    objects = render(name)
    servers = _server_containers(objects)
    assert servers
    for _, spec, c in servers:
        limits = c.get("resources", {}).get("limits", {})
        tolerations = spec.get("tolerations", [])
        gpu_tolerated = any(t.get("key") == "nvidia.com/gpu" and t.get("effect") == "NoSchedule"
                            and t.get("operator") in ("Exists", "Equal") for t in tolerations)
        if name in GPU:
            assert limits.get("nvidia.com/gpu") == "1", f"{name}/{c['name']}: nvidia.com/gpu limit {limits}"
            assert isinstance(limits["nvidia.com/gpu"], str)
            assert gpu_tolerated, f"{name}/{c['name']}: no toleration of the nvidia.com/gpu taint"
            key, value = GPU[name]
            assert spec.get("nodeSelector", {}).get(key) == value, f"{name}: node selector {spec.get('nodeSelector')}"
            if "image" in c:
                assert re.search(r":[^/]*(gpu|cuda)", c["image"]), f"{name}/{c['name']}: a CPU image {c['image']}"
            else:
                assert c["runtimeVersion"].endswith("-gpu")
        else:
            assert "nvidia.com/gpu" not in limits and not gpu_tolerated and not spec.get("nodeSelector"), name
    for w in _workloads(objects):  # only the servers hold a GPU, never a sidecar or init container
        for spec in pod_specs(w):
            for c in containers(spec):
                if c["name"] not in SERVER_CONTAINERS:
                    assert "nvidia.com/gpu" not in c.get("resources", {}).get("limits", {}), c["name"]


@pytest.mark.parametrize("name", RENDERINGS)
def test_images_are_pinned(render, name):
    for w in _workloads(render(name)):
        for spec in pod_specs(w):
            for c in containers(spec):
                if "image" not in c:
                    assert c.get("runtimeVersion"), f"{c['name']}: neither an image nor a runtime version"
                    continue
                image = c["image"]
                name_part, _, digest = image.partition("@")
                tag = name_part.rsplit("/", 1)[-1].partition(":")[2]
                assert tag or digest.startswith("sha256:"), f"{image}: untagged"
                assert tag != "latest", f"{image}: latest"
                assert not digest or re.fullmatch(r"sha256:[0-9a-f]{64}", digest), image


def _effective(container: dict, spec: dict, key: str):
    return container.get("securityContext", {}).get(key, spec.get("securityContext", {}).get(key))


@pytest.mark.parametrize("name", RENDERINGS)
def test_restricted_security_context_everywhere(render, name):
    for w in _workloads(render(name)):
        for spec in pod_specs(w):
            assert spec.get("automountServiceAccountToken") is False, w["metadata"]["name"]
            assert not any(spec.get(k) for k in ("hostNetwork", "hostPID", "hostIPC"))
            assert not any("hostPath" in v for v in spec.get("volumes", []))
            emptydirs = {v["name"] for v in spec.get("volumes", []) if "emptyDir" in v}
            for c in containers(spec):
                where = f"{name}: {w['metadata']['name']}/{c['name']}"
                sc = c.get("securityContext", {})
                assert _effective(c, spec, "runAsNonRoot") is True, where
                assert sc.get("allowPrivilegeEscalation") is False, where
                assert sc.get("readOnlyRootFilesystem") is True, where
                assert sc.get("privileged") in (None, False), where
                assert "ALL" in sc.get("capabilities", {}).get("drop", []), where
                assert not sc.get("capabilities", {}).get("add"), where
                assert (_effective(c, spec, "seccompProfile") or {}).get("type") == "RuntimeDefault", where
                assert _effective(c, spec, "runAsUser") not in (None, 0), f"{where}: runs as root or the image's user"
                requests, limits = c.get("resources", {}).get("requests", {}), c.get("resources", {}).get("limits", {})
                assert {"cpu", "memory"} <= set(requests) and {"cpu", "memory"} <= set(limits), where
                if "image" in c and c["name"] != "kserve-model":  # a read-only root: /tmp is an emptyDir
                    writable = {m["mountPath"] for m in c.get("volumeMounts", [])
                                if m["name"] in emptydirs and not m.get("readOnly")}
                    assert "/tmp" in writable, f"{where}: no writable /tmp"


_SECRET_LIKE = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|CREDENTIAL)", re.I)
_TOKEN_LIKE = re.compile(r"Bearer\s+[A-Za-z0-9]|\b[0-9a-fA-F]{32,}\b|[A-Za-z0-9+_-]{40,}={0,2}")


@pytest.mark.parametrize("name", RENDERINGS)
def test_token_only_in_a_secret(render, name):
    objects = render(name)
    assert not any(o["kind"] == "Secret" for o in objects), "a Secret in the manifests: the token is created apart"
    for w in _workloads(objects):
        for spec in pod_specs(w):
            for c in containers(spec):
                for env in c.get("env", []):
                    if "value" in env:
                        assert not _SECRET_LIKE.search(env["name"]) or env["value"] in ("true", "false"), \
                            f"{c['name']}: {env['name']} is a literal"
                        assert not _TOKEN_LIKE.search(env["value"]), f"{c['name']}: {env['name']}={env['value']}"
                for arg in c.get("command", []) + c.get("args", []):
                    assert not _TOKEN_LIKE.search(arg), f"{c['name']}: {arg!r}"
            proxies = [c for c in spec.get("containers", []) if c["name"] == "auth-proxy"]
            if w["kind"] == "Deployment":
                assert len(proxies) == 1, w["metadata"]["name"]
                secret_volumes = {v["name"] for v in spec["volumes"]
                                  if v.get("secret", {}).get("secretName") == TOKEN_SECRET}
                assert secret_volumes & {m["name"] for m in proxies[0]["volumeMounts"]}
                others = [c for c in containers(spec) if c["name"] != "auth-proxy"]
                assert not any(m["name"] in secret_volumes for c in others for m in c.get("volumeMounts", [])), \
                    "the token is mounted beyond the proxy"
    for o in objects:  # nor in a ConfigMap (the proxy's configs read it from the Secret's file)
        if o["kind"] == "ConfigMap":
            for key, text in o.get("data", {}).items():
                found = re.search(r"Bearer\s+(?!realm)[A-Za-z0-9._~+/-]{16,}", text)
                assert not found, f"ConfigMap {o['metadata']['name']}/{key}"


def _container_port_numbers(objects, service):
    numbers = {}
    for w in _workloads(objects):
        if _matches(service["spec"]["selector"], _template_labels(w)):
            for spec in pod_specs(w):
                for c in spec["containers"]:
                    for p in c.get("ports", []):
                        numbers[p.get("name", p["containerPort"])] = p["containerPort"]
                        numbers[p["containerPort"]] = p["containerPort"]
    return numbers


@pytest.mark.parametrize("name", RENDERINGS)
def test_management_api_never_exposed(render, name):
    objects = render(name)
    for svc in (o for o in objects if o["kind"] == "Service"):
        numbers = _container_port_numbers(objects, svc)
        for port in svc["spec"]["ports"]:
            target = numbers.get(port.get("targetPort", port["port"]))
            exposed = (port["port"], port.get("targetPort"), target)
            assert MANAGEMENT_PORT not in exposed, f"Service {svc['metadata']['name']} exposes 8081"
    for o in objects:
        if o["kind"] == "Ingress":
            for rule in o["spec"]["rules"]:
                for path in rule["http"]["paths"]:
                    assert path["backend"]["service"]["port"].get("number") != MANAGEMENT_PORT
    for w in _workloads(objects):
        for spec in pod_specs(w):
            for c in spec.get("containers", []):
                if c["name"] == "torchserve":
                    env = {e["name"]: e.get("value") for e in c.get("env", [])}
                    assert env["TS_MANAGEMENT_ADDRESS"] == "http://127.0.0.1:8081"
                    assert env["TS_GRPC_MANAGEMENT_ADDRESS"] == "127.0.0.1"
                    # inference only through the proxy: TorchServe's own listeners are loopback
                    assert env["TS_INFERENCE_ADDRESS"].startswith("http://127.0.0.1:")
                    assert env["TS_GRPC_INFERENCE_ADDRESS"] == "127.0.0.1"
                    assert env["TS_METRICS_ADDRESS"] == "http://$(POD_IP):8082"
                    assert env["TS_DISABLE_TOKEN_AUTHORIZATION"] == "true"
                    assert MANAGEMENT_PORT not in _declared_ports(c)


@pytest.mark.parametrize("name", RENDERINGS)
def test_network_policies_admit_only_the_proxies(render, name):
    objects = render(name)
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    assert any(p["spec"]["podSelector"] == {} and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
               and not p["spec"].get("ingress") and not p["spec"].get("egress") for p in policies), "no default deny"
    for w in (w for w in _workloads(objects) if w["kind"] == "Deployment"):
        labels = _template_labels(w)
        admitted = {port["port"] for p in policies if "Ingress" in p["spec"]["policyTypes"]
                    and p["spec"]["podSelector"].get("matchLabels") and _matches(p["spec"]["podSelector"], labels)
                    for rule in p["spec"].get("ingress", []) for port in rule.get("ports", [])}
        spec = pod_specs(w)[0]
        proxy = {p["containerPort"] for c in spec["containers"] if c["name"] == "auth-proxy" for p in c["ports"]}
        metrics = {p["containerPort"] for c in spec["containers"] if c["name"] != "auth-proxy"
                   for p in c.get("ports", []) if p.get("name") == "metrics"}
        assert admitted == proxy | metrics, f"{w['metadata']['name']}: admitted {admitted}"


@pytest.mark.parametrize("name", RENDERINGS)
def test_service_account_and_identity(render, name):
    objects = render(name)
    accounts = [o for o in objects if o["kind"] == "ServiceAccount"]
    assert [a["metadata"]["name"] for a in accounts] == ["tandem-serving"]
    assert accounts[0]["automountServiceAccountToken"] is False
    annotations = accounts[0]["metadata"].get("annotations", {})
    if name.startswith("gke"):
        assert annotations["iam.gke.io/gcp-service-account"].endswith(".iam.gserviceaccount.com")
    elif name.startswith("eks"):
        assert annotations["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    else:
        assert not annotations
    for w in _workloads(objects):
        assert pod_specs(w)[0]["serviceAccountName"] == "tandem-serving"


@pytest.mark.parametrize("name", RENDERINGS)
def test_models_come_from_the_overlays_source(render, name):
    objects = render(name)
    model = next(o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("tandem-model"))
    uri = model["data"]["MODEL_URI"]
    if name.startswith("gke"):
        assert uri.startswith("gs://")
    elif name.startswith("eks"):
        assert uri.startswith("s3://")
    if name == "local":  # the volume's folder on the node is the one the annotation names
        volume = next(o for o in objects if o["kind"] == "PersistentVolume")
        assert volume["spec"]["hostPath"]["path"] == "/tandem-serving"
    for w in _workloads(objects):
        spec = pod_specs(w)[0]
        if w["kind"] == "InferenceService":
            uris = [spec.get("model", {}).get("storageUri")] + [e["value"] for c in spec.get("containers", [])
                                                                for e in c.get("env", []) if e["name"] == "STORAGE_URI"]
            assert all(u and u.startswith(uri + "/") for u in uris if u is not None), uris
            continue
        # `tandem deploy`'s contract (deploy/__init__.py): the server label, and the model source
        labels, notes = w["metadata"]["labels"], w["metadata"].get("annotations", {})
        assert labels["tandem.dev/server"] == {"tfserving": "tf", "torchserve": "torch"}[w["metadata"]["name"]]
        assert notes["tandem.dev/model-source"] == (uri if uri != "/source" else "/tandem-serving")
        init = {c["name"]: c for c in spec["initContainers"]}["fetch-model"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        from_volume = "model-source" in volumes
        assert from_volume == (uri == "/source"), f"{name}: model-source volume {from_volume}, MODEL_URI {uri}"
        if from_volume:
            assert volumes["model-source"]["persistentVolumeClaim"]["readOnly"] is True
        assert volumes["models"].get("emptyDir") is not None
        tool = {"gs://": "google-cloud-cli", "s3://": "aws-cli"}.get(uri[:5], "busybox")
        assert tool in init["image"], f"{name}: {init['image']}"


def test_overlays_scale_as_intended(render):
    local = render("local")
    assert not any(o["kind"] == "HorizontalPodAutoscaler" for o in local)
    assert all(o["spec"]["replicas"] == 1 for o in local if o["kind"] == "Deployment")
    for name in OVERLAYS[1:]:
        hpas = [o for o in render(name) if o["kind"] == "HorizontalPodAutoscaler"]
        assert {h["spec"]["scaleTargetRef"]["name"] for h in hpas} == {"tfserving", "torchserve"}
        assert all(h["spec"]["minReplicas"] >= 2 for h in hpas)
        deployments = [o for o in render(name) if o["kind"] == "Deployment"]
        assert all("replicas" not in d["spec"] for d in deployments), "replicas would fight the HPA"
        pdbs = [o for o in render(name) if o["kind"] == "PodDisruptionBudget"]
        assert len(pdbs) == 2


def test_torchserve_config_turns_envvars_config_on():
    """The TS_* variables only count if serving/torchserve/config.properties says so."""
    with open(os.path.join(REPO, "serving", "torchserve", "config.properties")) as f:
        props = dict(line.strip().split("=", 1) for line in f if "=" in line and not line.lstrip().startswith("#"))
    assert props.get("enable_envvars_config") == "true"
    assert props.get("use_env_allowed_urls", "false") == "false"
    store = "/home/model-server/model-store"  # where torchserve.yaml mounts the model store
    assert store in props.get("allowed_urls", store)
