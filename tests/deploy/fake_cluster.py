"""A FAKE Kubernetes API server for tests: kmock's stateful emulator on 127.0.0.1, run in a thread
so the real, synchronous `kubernetes` client (and `tandem` in a process of its own) talk to it over
real HTTP. It is not Kubernetes: no scheduler, no pods of its own, no validation or defaulting.

kmock stores objects and answers create / patch / get / list, discovery, 404 and 409 like an
API server. This module adds, in `FakeApiServer`, what a real API server does that tandem relies
on and kmock does not:
- server-side apply (PATCH application/apply-patch+yaml) creates a missing object;
- `?dryRun=All` answers as if it wrote, and changes nothing;
- the namespaces the test declares (or a Namespace applied) exist; a write into another answers 404
  `namespaces "x" not found`, as the real server does; GET /api/v1/namespaces/NAME answers from them;
- a list carries its kind (`DeploymentList`…), which the client needs;
- a Deployment's metadata.generation grows when its spec changes;
- errors a test injects (`fail`): a 403 or a 409 with the real server's kind of Status;
- a stand-in for the Deployment controller: it marks each Deployment rolled out (status) a moment
  after its spec changes, except those a test declares stuck (one old pod serving, the new one not).
"""

import asyncio
import copy
import re
import threading
import time

import aiohttp.web
import kmock
from kmock import KubernetesError

RESOURCES = {  # what the fake's discovery serves: (kind, namespaced)
    "apps/v1/deployments": ("Deployment", True),
    "v1/services": ("Service", True),
    "v1/pods": ("Pod", True),
    "v1/configmaps": ("ConfigMap", True),
    "v1/serviceaccounts": ("ServiceAccount", True),
    "v1/persistentvolumeclaims": ("PersistentVolumeClaim", True),
    "v1/namespaces": ("Namespace", False),
}
VERBS = {"get", "list", "watch", "create", "update", "patch", "delete"}


def _merge(base: dict, patch: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in patch.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


class FakeApiServer(kmock.KubernetesEmulator):
    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.namespaces, self.stuck, self.failures = {"default"}, set(), []
        self.controller_delay = 0.5
        self._changed = {}  # deployment key -> when its spec last changed
        for path, (kind, namespaced) in RESOURCES.items():
            self.resources[path] = kmock.ResourceInfo(kind=kind, namespaced=namespaced, verbs=VERBS,
                                                      subresources={"status"} if kind == "Deployment" else set())

    def fail(self, method: str, path_pattern: str, status: int, reason: str, message: str) -> None:
        """Answer `method` on paths matching `path_pattern` with an API error (like the real server's)."""
        self.failures.append((method.upper(), re.compile(path_pattern), KubernetesError(
            status=status, reason=reason, message=message, details={})))

    def _key(self, request):
        name = request.name or (request.data or {}).get("metadata", {}).get("name")
        return request.resource, request.namespace, name

    async def _handle(self, request):
        path, method = request.url.path, request.method.upper()
        for want, pattern, error in self.failures:
            if want == method and pattern.search(path):
                raise error
        if path == "/version/" and method == "GET":  # the client asks with a slash; kmock serves /version
            return aiohttp.web.json_response(await self._serve_server_version(request))
        found = re.fullmatch(r"/api/v1/namespaces/([^/]+)", path)  # kmock does not serve namespaces themselves
        if found and method in ("GET", "PATCH"):
            name = found.group(1)
            if method == "PATCH" and request.params.get("dryRun") != "All":
                self.namespaces.add(name)  # applied
            if name not in self.namespaces and method == "GET":
                raise self._no_namespace(name)
            return aiohttp.web.json_response({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name},
                                              "status": {"phase": "Active"}})
        writes = request.action in (kmock.action.CREATE, kmock.action.UPDATE)
        if request.resource is not None and writes and request.namespace and request.namespace not in self.namespaces:
            raise self._no_namespace(request.namespace)
        applying = request.headers.get("Content-Type", "").startswith("application/apply-patch")
        key = self._key(request)
        exists = key in self.objects and not self.objects[key].deleted
        if request.params.get("dryRun") == "All" and writes:  # answer as if written, change nothing
            return aiohttp.web.json_response(_merge(self.objects[key].raw if exists else {}, request.data or {}))
        if applying and request.action == kmock.action.UPDATE and not exists:
            async with self._lock:
                self.objects[key] = request.data  # server-side apply creates
        deployment = request.resource is not None and request.resource.plural == "deployments" \
            and not request.subresource and writes
        before = copy.deepcopy(self.objects[key].raw.get("spec")) if deployment and exists else None
        response = await super()._handle(request)
        if deployment and key in self.objects and not self.objects[key].deleted:
            obj = self.objects[key]
            if obj.raw.get("spec") != before or not exists:
                generation = (obj.raw.get("metadata", {}).get("generation") or 0) + 1
                obj.patch({"metadata": {"generation": generation}})
                self._changed[key] = time.monotonic()
        return response

    async def _serve_list(self, request):
        """kmock's list, with the kind a real list carries (the client needs it)."""
        found = await super()._serve_list(request)
        resource = request.resource
        group_version = f"{resource.group}/{resource.version}" if resource.group else resource.version
        kind = RESOURCES.get(f"{group_version}/{resource.plural}", (resource.plural.capitalize(),))[0]
        return {"apiVersion": group_version, "kind": f"{kind}List", **found}

    @staticmethod
    def _no_namespace(name: str) -> KubernetesError:
        return KubernetesError(status=404, reason="NotFound", message=f'namespaces "{name}" not found',
                               details={"name": name, "kind": "namespaces"})

    async def control(self, stop: asyncio.Event) -> None:
        """The Deployment controller's stand-in."""
        while not stop.is_set():
            async with self._lock:
                for key, obj in list(self.objects.items()):
                    resource, _, name = key
                    if resource.plural != "deployments" or obj.deleted:
                        continue
                    raw = obj.raw
                    generation = raw.get("metadata", {}).get("generation") or 1
                    if (raw.get("status") or {}).get("observedGeneration") == generation:
                        continue
                    if time.monotonic() - self._changed.get(key, 0) < self.controller_delay:
                        continue
                    replicas = (raw.get("spec") or {}).get("replicas", 1)
                    if name in self.stuck:
                        status = {"replicas": replicas + 1, "updatedReplicas": 1, "readyReplicas": replicas,
                                  "availableReplicas": replicas, "unavailableReplicas": 1}
                    else:
                        status = {"replicas": replicas, "updatedReplicas": replicas, "readyReplicas": replicas,
                                  "availableReplicas": replicas}
                    obj.patch({"status": {"observedGeneration": generation, **status}})
            await asyncio.sleep(0.05)


class FakeCluster:
    """The fake API server in a thread of its own; `url` is its address, `kubeconfig(path)` writes
    a kubeconfig that points the real client (or `tandem`) at it."""

    def __init__(self):
        self._ready, self._error = threading.Event(), None
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="fake-api-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the fake API server did not start")
        if self._error:
            raise self._error

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._main())
        except Exception as error:  # noqa: BLE001 - said by the starting thread
            self._error = error
            self._ready.set()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with FakeApiServer() as api, kmock.Server(api) as server:
            self.api, self.url = api, str(server.url).rstrip("/")
            controller = asyncio.create_task(api.control(self._stop))
            self._ready.set()
            await self._stop.wait()
            await controller

    def call(self, fn):
        """Run fn(api) on the server's loop (kmock's state is the loop's) and return its result."""
        async def run():
            return fn(self.api)
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    def objects(self, plural: str, namespace: str | None = None) -> dict[str, dict]:
        """{name: object} of a resource, as the fake holds them."""
        def collect(api):
            return {name: copy.deepcopy(obj.raw) for (resource, ns, name), obj in api.objects.items()
                    if resource.plural == plural and not obj.deleted and namespace in (None, ns)}
        return self.call(collect)

    def kubeconfig(self, path, namespace: str = "default", context: str = "fake") -> str:
        import yaml

        with open(path, "w") as f:
            yaml.safe_dump({
                "apiVersion": "v1", "kind": "Config", "current-context": context,
                "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                "users": [{"name": "tester", "user": {"token": "fake-token"}}],
                "contexts": [{"name": context, "context": {"cluster": "fake", "user": "tester",
                                                           "namespace": namespace}}],
            }, f)
        return str(path)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
