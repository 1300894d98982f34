"""Waiting for server Deployments to roll out (as `kubectl rollout status` judges it), with a
progress line whenever one changes, and, if one does not finish, what is left running."""

import time
from dataclasses import dataclass

from deploy import VERSION_ANNOTATION
from deploy.errors import DeployError, RolloutFailed


@dataclass(frozen=True)
class State:
    done: bool
    failed: bool
    message: str


def state(deployment: dict) -> State:
    """Where a Deployment's rollout stands, from its status (the Deployment controller's)."""
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    wanted = spec.get("replicas", 1)
    generation = (deployment.get("metadata") or {}).get("generation")
    observed = status.get("observedGeneration")
    if generation is not None and (observed is None or observed < generation):
        return State(False, False, "waiting for the Deployment controller to take the new spec")
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            return State(False, True, f"Kubernetes gave up: {condition.get('message', 'progress deadline exceeded')}")
    updated, total = status.get("updatedReplicas") or 0, status.get("replicas") or 0
    available = status.get("availableReplicas") or 0
    if updated < wanted:
        return State(False, False, f"{updated} of {wanted} new replicas updated")
    if total > updated:
        return State(False, False, f"{total - updated} old replica(s) pending termination")
    if available < updated:
        return State(False, False, f"{available} of {updated} updated replicas available")
    return State(True, False, f"{available}/{wanted} replicas available")


def pods_report(cluster, deployment: dict) -> list[str]:
    """One line per pod of the Deployment: its version, ready or why not."""
    meta, spec = deployment["metadata"], deployment.get("spec") or {}
    labels = (spec.get("selector") or {}).get("matchLabels") or {}
    if not labels:
        return []
    selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    try:
        pods = cluster.list("v1", "Pod", meta.get("namespace"), selector)
    except DeployError:  # not allowed to list pods: the Deployment's status has to do
        return []
    lines = []
    for pod in pods:
        if any(((pod.get("metadata") or {}).get("labels") or {}).get(k) != v for k, v in labels.items()):
            continue
        version = ((pod.get("metadata") or {}).get("annotations") or {}).get(VERSION_ANNOTATION, "?")
        lines.append(f"pod {pod['metadata']['name']} (version {version}): {_pod_condition(pod)}")
    return lines


def _pod_condition(pod: dict) -> str:
    status = pod.get("status") or {}
    for kind in ("initContainerStatuses", "containerStatuses"):
        for container in status.get(kind) or []:
            waiting = (container.get("state") or {}).get("waiting")
            if waiting and waiting.get("reason") not in (None, "PodInitializing", "ContainerCreating"):
                detail = f": {waiting['message']}" if waiting.get("message") else ""
                return f"container {container.get('name')} waiting: {waiting['reason']}{detail}"[:300]
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return f"not scheduled: {condition.get('reason', '')} {condition.get('message', '')}".strip()[:300]
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    return "ready" if ready else (status.get("phase") or "pending").lower()


def left_running(cluster, deployment: dict, version: int, old_version: int | None) -> list[str]:
    """What a rollout of `version` that did not finish leaves behind, in words."""
    status = deployment.get("status") or {}
    lines = pods_report(cluster, deployment)
    total, updated = status.get("replicas") or 0, status.get("updatedReplicas") or 0
    available, old_pods = status.get("availableReplicas") or 0, max(total - updated, 0)
    old = f"version {old_version}" if old_version else "the version before"
    if not old_pods:
        lines.append(f"left running: {updated} pod(s) of version {version}, {available} available; nothing of an "
                     "earlier version; Kubernetes keeps trying")
    else:
        lines.append(f"left running: {old_pods} pod(s) of {old} and {updated} of version {version} ({available} "
                     "available in all): the old pods keep serving until new ones are ready, and Kubernetes keeps "
                     "trying the new version")
    return lines


@dataclass
class Rollout:
    server: str
    namespace: str
    name: str
    version: int
    previous: int | None  # the version that ran before this deploy
    undo: str = ""  # how to go back, in words, if it does not finish
    message: str = ""
    done: bool = False


def wait(cluster, rollouts: list[Rollout], timeout: float, echo=print, interval: float = 1.0) -> float:
    """Poll every Deployment until all rolled out; raise RolloutFailed with what is left running
    if one fails or `timeout` passes. Returns the seconds waited."""
    start = time.time()
    while True:
        latest = {}
        for r in rollouts:
            if r.done:
                continue
            live = cluster.get("apps/v1", "Deployment", r.name, r.namespace)
            if live is None:
                raise RolloutFailed(f"{r.server}: Deployment {r.namespace}/{r.name} disappeared during its rollout")
            latest[r.server] = live
            now = state(live)
            if now.message != r.message or now.done:
                r.message, r.done = now.message, now.done
                echo(f"[{time.time() - start:6.1f}s] {r.server:<6} {r.namespace}/{r.name} version {r.version}: "
                     + ("rolled out, " if now.done else "") + now.message)
            if now.failed:
                raise RolloutFailed(_failure(cluster, r, live, now.message))
        if all(r.done for r in rollouts):
            return time.time() - start
        if time.time() - start >= timeout:
            stuck = [r for r in rollouts if not r.done]
            raise RolloutFailed("\n".join(_failure(cluster, r, latest[r.server], f"did not finish within {timeout:g}s"
                                                   f" ({r.message})") for r in stuck))
        time.sleep(interval)


def _failure(cluster, r: Rollout, live: dict, why: str) -> str:
    lines = [f"the {r.server} rollout of version {r.version} ({r.namespace}/{r.name}) {why}"]
    lines += [f"  {line}" for line in left_running(cluster, live, r.version, r.previous)]
    undo = r.undo or (f"tandem rollback {r.server} --namespace {r.namespace}" if r.previous else "fix the cause and "
                                                                                                 "deploy again")
    lines.append(f"  then: watch it with `tandem status --namespace {r.namespace}`, or go back: {undo}")
    return "\n".join(lines)
