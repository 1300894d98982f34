"""What runs where: tandem's server Deployments, the version each serves, whether it is ready,
the versions deployed before, and how to reach each (its Services)."""

from dataclasses import dataclass

from deploy import MODEL_ANNOTATION, SERVER_LABEL, SERVERS, SOURCE_ANNOTATION
from deploy.errors import DeployError, Forbidden
from deploy.manifests import annotations, history, pinned_version
from deploy.rollout import state

REST_PORTS = {"tf": ("rest", "http", 8501), "torch": ("inference", "http", 8080)}  # names, then the default port


@dataclass(frozen=True)
class Endpoint:
    url: str  # what `tandem query --url` takes (after `first`, if any)
    how: str  # the Service and its type
    first: str = ""  # what to run before the URL answers (a port-forward), if anything


@dataclass(frozen=True)
class Server:
    server: str
    namespace: str
    name: str
    model: str
    version: int | None
    ready: bool
    message: str
    history: list[int]
    source: str
    endpoints: list[Endpoint]


def find(cluster, namespace: str | None, server: str | None = None) -> tuple[list[dict], str | None]:
    """tandem's server Deployments in `namespace`, or in every namespace the user may list (None;
    where listing them all is forbidden, in the context's namespace), and the namespace listed."""
    selector = f"{SERVER_LABEL} in ({server})" if server else f"{SERVER_LABEL} in ({','.join(SERVERS)})"
    try:
        found = cluster.list("apps/v1", "Deployment", namespace, selector)
    except Forbidden:
        if namespace is not None:
            raise
        namespace = cluster.default_namespace
        found = cluster.list("apps/v1", "Deployment", namespace, selector)
    wanted = (server,) if server else SERVERS
    found = [d for d in found if (d["metadata"].get("labels") or {}).get(SERVER_LABEL) in wanted]
    order = {s: i for i, s in enumerate(SERVERS)}
    return sorted(found, key=lambda d: (d["metadata"].get("namespace", ""),
                                        order[d["metadata"]["labels"][SERVER_LABEL]])), namespace


def endpoints(cluster, deployment: dict) -> list[Endpoint]:
    """How to reach a server: its Services (those selecting its pods), by their REST port."""
    meta = deployment["metadata"]
    server, namespace = meta["labels"][SERVER_LABEL], meta.get("namespace")
    pod_labels = ((deployment.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {}
    try:
        services = cluster.list("v1", "Service", namespace)
    except DeployError:
        return []
    found = []
    for service in services:
        spec = service.get("spec") or {}
        selector = spec.get("selector") or {}
        if not selector or any(pod_labels.get(k) != v for k, v in selector.items()):
            continue
        port = _rest_port(server, spec.get("ports") or [])
        if port is not None:
            found.append(_endpoint(service, port))
    return found


def _rest_port(server: str, ports: list[dict]) -> dict | None:
    *names, default = REST_PORTS[server]
    for port in ports:
        if port.get("name") in names or port.get("port") == default:
            return port
    return ports[0] if ports else None


def _endpoint(service: dict, port: dict) -> Endpoint:
    meta, spec = service["metadata"], service.get("spec") or {}
    name, namespace, number = meta["name"], meta.get("namespace", "default"), port.get("port")
    kind = spec.get("type") or "ClusterIP"
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    if kind == "LoadBalancer" and ingress:
        host = ingress[0].get("ip") or ingress[0].get("hostname")
        return Endpoint(f"http://{host}:{number}", f"Service {namespace}/{name} (LoadBalancer)")
    if kind == "NodePort" and port.get("nodePort"):
        return Endpoint(f"http://NODE_ADDRESS:{port['nodePort']}",
                        f"Service {namespace}/{name} (NodePort {port['nodePort']}, on any node's address)")
    pending = ", its address still pending" if kind == "LoadBalancer" else ""
    return Endpoint(f"http://127.0.0.1:{number}",
                    f"Service {namespace}/{name} ({kind}{pending}; in the cluster: http://{name}.{namespace}.svc:"
                    f"{number})", first=f"kubectl port-forward -n {namespace} svc/{name} {number}:{number}")


def describe(cluster, deployment: dict) -> Server:
    meta = deployment["metadata"]
    now = state(deployment)
    notes = annotations(deployment)
    return Server(server=meta["labels"][SERVER_LABEL], namespace=meta.get("namespace", ""), name=meta["name"],
                  model=notes.get(MODEL_ANNOTATION, "?"), version=pinned_version(deployment), ready=now.done,
                  message=now.message, history=[e["version"] for e in history(deployment)],
                  source=notes.get(SOURCE_ANNOTATION, "?"), endpoints=endpoints(cluster, deployment))


def query_line(server: str, endpoint: Endpoint) -> str:
    return (f"{endpoint.first}, then: " if endpoint.first else "") + f"tandem query {server} --url {endpoint.url}"
