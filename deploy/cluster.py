"""The user's cluster, found as kubectl finds it, through the official `kubernetes` client.

- Configuration: the kubeconfig ($KUBECONFIG, else ~/.kube/config) and its current context,
  or `--context`; inside a pod without a kubeconfig, the pod's service account.
- Writes are server-side apply (PATCH application/apply-patch+yaml, fieldManager=tandem,
  never forced), through the client's DynamicClient, which finds each kind's endpoint by the
  API server's discovery, as kubectl does.
- Every failure becomes one DeployError that says what happened and what to do.
"""

import json
import os
import re
from contextlib import contextmanager

from deploy import FIELD_MANAGER
from deploy.errors import Conflict, DeployError, Forbidden, NamespaceMissing, NoCluster, Unauthorized

IN_CLUSTER_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


def _status(error) -> tuple[int, str, dict]:
    """(HTTP status, the API server's message, its details) of an ApiException or DynamicApiError."""
    status = getattr(error, "status", None) or 0
    body = getattr(error, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        payload = json.loads(body) if body else {}
    except ValueError:
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    message = payload.get("message") or getattr(error, "reason", "") or str(error).splitlines()[0]
    return int(status), str(message).strip(), payload.get("details") or {}


class Cluster:
    """One cluster (a kubeconfig context), its default namespace, and what tandem does there."""

    def __init__(self, context: str | None = None, request_timeout: float = 30.0, discovery_cache: str | None = None):
        from kubernetes import client

        self.context, self.timeout = context, request_timeout
        self.configuration, self.default_namespace, self.where = _configuration(context)
        self.api = client.ApiClient(self.configuration)
        self._discovery_cache, self._dynamic, self._version = discovery_cache, None, None

    @property
    def host(self) -> str:
        return self.configuration.host

    # ------------------------------------------------------------ errors, in one place
    @contextmanager
    def errors(self, doing: str, namespace: str | None = None):
        """Turn the client's exceptions while `doing` (e.g. "apply Deployment demo/x") into DeployErrors."""
        import urllib3
        from kubernetes.client.exceptions import ApiException
        from kubernetes.dynamic.exceptions import DynamicApiError

        try:
            yield
        except (ApiException, DynamicApiError) as error:
            raise self._api_error(error, doing, namespace) from None
        except (urllib3.exceptions.HTTPError, OSError) as error:
            reason = getattr(error, "reason", None) or error
            raise NoCluster(f"cannot reach the Kubernetes API server at {self.host} ({self.where}): "
                            f"{_one_line(reason)}. Is the cluster running, and is this the right context? "
                            "(kubectl cluster-info; --context NAME)") from None

    def _api_error(self, error, doing: str, namespace: str | None) -> DeployError:
        status, message, details = _status(error)
        if status == 401:
            return Unauthorized(f"the API server at {self.host} refused the credentials of {self.where} (401 "
                                f"Unauthorized) while trying to {doing}: log in again or refresh the kubeconfig")
        if status == 403:
            return Forbidden(f"permission denied (403 Forbidden) to {doing}: {message}. Ask for the RBAC rights "
                             "(check with `kubectl auth can-i`), or use a context that has them")
        if status == 404 and (details.get("kind") == "namespaces" or re.search(r'namespaces? "[^"]+" not found',
                                                                                 message)):
            ns = details.get("name") or namespace
            return NamespaceMissing(f"the namespace {ns!r} does not exist ({self.where}): create it "
                                    f"(kubectl create namespace {ns}) or choose another with --namespace")
        if status == 409:
            return Conflict(f"conflict (409) trying to {doing}: {message}. Another field manager (kubectl edit, "
                            "scale or apply by hand, an operator) owns fields that tandem applies: undo that "
                            "change, or hand the fields to tandem (kubectl apply --server-side --force-conflicts "
                            f"--field-manager={FIELD_MANAGER})")
        if status == 404:
            return DeployError(f"not found (404) trying to {doing}: {message}")
        if status == 422:
            return DeployError(f"the API server rejected the manifest (422 Invalid) trying to {doing}: {message}")
        return DeployError(f"the API server answered {status or 'an error'} trying to {doing}: {message}")

    # ------------------------------------------------------------ the API
    def check(self) -> str:
        """Reach the API server (with a short timeout) and return its version."""
        from kubernetes import client

        if self._version is None:
            with self.errors(f"reach the API server at {self.host}"):
                self._version = client.VersionApi(self.api).get_code(_request_timeout=min(self.timeout, 10)).git_version
        return self._version

    @property
    def dynamic(self):
        if self._dynamic is None:
            from kubernetes.dynamic import DynamicClient

            self.check()
            with self.errors("discover the API server's resources"):
                self._dynamic = DynamicClient(self.api, cache_file=self._discovery_cache)
        return self._dynamic

    def resource(self, api_version: str, kind: str):
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        try:
            with self.errors(f"look up {kind} ({api_version})"):
                return self.dynamic.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            raise DeployError(f"the API server at {self.host} does not serve {kind} ({api_version}): "
                              "is its CustomResourceDefinition or API group installed?") from None

    def namespaced(self, obj: dict) -> bool:
        return bool(self.resource(obj["apiVersion"], obj["kind"]).namespaced)

    def apply(self, obj: dict, dry_run: bool = False) -> dict:
        """Server-side apply of one object (not forced: another manager's fields are a Conflict)."""
        from deploy.manifests import describe

        resource = self.resource(obj["apiVersion"], obj["kind"])
        namespace = obj.get("metadata", {}).get("namespace") if resource.namespaced else None
        extra = {"dry_run": "All"} if dry_run else {}
        with self.errors(f"apply {describe(obj)}" + (" (server-side dry run)" if dry_run else ""), namespace):
            result = self.dynamic.server_side_apply(resource, body=obj, namespace=namespace,
                                                    field_manager=FIELD_MANAGER, _request_timeout=self.timeout,
                                                    **extra)
        return result.to_dict()

    def get(self, api_version: str, kind: str, name: str, namespace: str | None) -> dict | None:
        from kubernetes.dynamic.exceptions import NotFoundError

        resource = self.resource(api_version, kind)
        with self.errors(f"read {kind} {namespace + '/' if namespace else ''}{name}", namespace):
            try:
                return self.dynamic.get(resource, name=name, namespace=namespace,
                                        _request_timeout=self.timeout).to_dict()
            except NotFoundError:
                return None

    def list(self, api_version: str, kind: str, namespace: str | None = None,
             label_selector: str | None = None) -> list[dict]:
        """Objects of a kind in `namespace` (None: in all namespaces)."""
        resource = self.resource(api_version, kind)
        where = f"in namespace {namespace}" if namespace else "in all namespaces"
        with self.errors(f"list {resource.name} {where}", namespace):
            found = self.dynamic.get(resource, namespace=namespace, label_selector=label_selector,
                                     _request_timeout=self.timeout).to_dict()
        return found.get("items") or []


def _one_line(reason) -> str:
    text = str(reason)
    match = re.search(r"\[Errno -?\d+\] ([^')\"]+)", text) or re.search(r"(Connection refused|timed out|"
                                                                        r"Name or service not known)", text)
    return match.group(1).strip() if match else text.splitlines()[0][:200]


def _configuration(context: str | None):
    """(client Configuration, the default namespace, "context X" / "in-cluster") as kubectl would."""
    from kubernetes import client, config

    configuration = client.Configuration()
    kubeconfig = os.environ.get("KUBECONFIG") or os.path.expanduser(config.KUBE_CONFIG_DEFAULT_LOCATION)
    files = [p for p in kubeconfig.split(os.pathsep) if p and os.path.exists(p)]
    if not files and context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config(client_configuration=configuration)
        with open(IN_CLUSTER_NAMESPACE) as f:
            return configuration, f.read().strip() or "default", "in-cluster (service account)"
    if not files:
        raise NoCluster(f"no kubeconfig at {kubeconfig} and not inside a pod: point $KUBECONFIG at your cluster's "
                        "kubeconfig (or create ~/.kube/config, e.g. with `kind create cluster`)")
    try:
        contexts, current = config.list_kube_config_contexts()
        names = [c["name"] for c in contexts]
        if context is not None and context not in names:
            raise NoCluster(f"--context {context}: no such context in {kubeconfig} (contexts: "
                            f"{', '.join(names) or 'none'})")
        chosen = next(c for c in contexts if c["name"] == context) if context else current
        config.load_kube_config(context=context, client_configuration=configuration)
    except config.ConfigException as error:
        raise NoCluster(f"cannot use the kubeconfig {kubeconfig}: {error}") from None
    namespace = (chosen or {}).get("context", {}).get("namespace") or "default"
    return configuration, namespace, f"context {chosen['name'] if chosen else context}"
