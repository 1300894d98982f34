"""`tandem deploy`, `tandem rollback`, `tandem status`: the pushed models on Kubernetes;
`tandem compile --target kfp`: the pipeline for Kubeflow Pipelines / Vertex AI Pipelines.

    tandem deploy [tf|torch|all] --overlay NAME [--version N] [--dry-run] [--namespace NS] [--context CTX]
                  [--timeout S]
    tandem rollback [tf|torch|all] [--namespace NS] [--context CTX] [--timeout S]
    tandem status [--namespace NS] [--context CTX]
    tandem compile --target kfp [tf|torch|all] [--image IMAGE] [--out DIR]

Deploy renders the overlay (k8s/overlays/NAME) with kustomize, pins the model version of each
server, checks everything with a server-side dry run, publishes the versions to the overlay's
model source, applies (server-side apply, field manager `tandem`) and waits for the rollouts.
The contract with the manifests is in deploy/__init__.py.
"""

import os
import time

from tandem.exits import OK, Failed, UsageError
from tandem.inputs import dataset

SERVERS = ("tf", "torch")


def _cluster(args):
    from deploy.cluster import Cluster

    return Cluster(args.context)


def _where(cluster, namespace: str | None) -> str:
    return f"{cluster.where}, " + (f"namespace {namespace}" if namespace else "all namespaces")


def _plan(args, home: str, found: dict, wanted: tuple[str, ...]) -> dict:
    """{server: (version, the home's copy or None, its model source)}; bad choices are usage errors."""
    from deploy import manifests, models

    model, plan = dataset(args).model_name, {}
    for server in wanted:
        source = models.source_for(manifests.model_source(found[server]))
        local = models.pushed(home, server, model)
        version = args.version or (max(local) if local else None)
        if version is None:
            raise UsageError(f"no {model} model of the {server} branch is pushed under {home}: run `tandem run "
                             f"{server}` first, or name a version the model source holds with --version")
        if version not in local and not source.complete(server, model, version):
            pushed = ", ".join(map(str, sorted(local))) or "none"
            raise UsageError(f"--version {version}: the {server} branch did not push it under {home} (pushed: "
                             f"{pushed}), and {source.uri} does not hold it")
        plan[server] = (version, local.get(version), source)
    return plan


def deploy(args) -> int:
    from deploy import manifests
    from deploy.errors import DeployError

    home = os.path.abspath(args.home)
    wanted = SERVERS if args.servers == "all" else (args.servers,)
    try:
        directory = manifests.overlay_dir(args.overlay)
        objects = manifests.render(directory)
        found = manifests.servers(objects)
        missing = [s for s in wanted if s not in found]
        if missing:
            raise UsageError(f"the overlay {args.overlay} has no Deployment labelled tandem.dev/server="
                             f"{' or '.join(missing)} ({directory})")
        plan = _plan(args, home, found, wanted)
        return _deploy(args, home, directory, objects, plan)
    except DeployError as error:
        raise Failed(str(error)) from None


def _deploy(args, home: str, directory: str, objects: list[dict], plan: dict) -> int:
    from deploy import manifests, rollout
    from pipelines.home import hold

    model = dataset(args).model_name
    cluster = _cluster(args)
    cluster.check()
    namespace = args.namespace or cluster.default_namespace
    # The servers not deployed now are left as they run.
    objects = [o for o in objects if manifests.server_of(o) in (None, *plan)]
    placed = manifests.set_namespace(objects, namespace, cluster.namespaced, override=bool(args.namespace))
    rollouts = []
    spaces = sorted({o["metadata"]["namespace"] for o in placed if o["metadata"].get("namespace")}) or [namespace]
    print(f"tandem: {'dry run: ' if args.dry_run else ''}deploying {model} to {cluster.where}, namespace "
          f"{', '.join(spaces)} (overlay {directory})")
    for i, obj in enumerate(placed):
        server = manifests.server_of(obj)
        if server is None:
            continue
        version, _, source = plan[server]
        meta = obj["metadata"]
        live = cluster.get("apps/v1", "Deployment", meta["name"], meta.get("namespace"))
        previous = manifests.pinned_version(live) if live else None
        entries = manifests.next_history(manifests.history(live), version)
        placed[i] = manifests.pin(obj, model, version, source.uri, entries, overlay=args.overlay)
        rollouts.append(rollout.Rollout(server, meta.get("namespace"), meta["name"], version, previous))
        was = "first deploy" if previous is None else "unchanged" if previous == version else f"was {previous}"
        print(f"  {server:<6} version {version} ({was}); model source {source.uri}")
    ordered = manifests.in_apply_order(placed)
    fresh = _new_namespaces(cluster, ordered)
    if not args.dry_run:  # what goes into a namespace can be checked only once the namespace exists
        for obj in fresh:
            cluster.apply(obj)
            print(f"tandem: created {manifests.describe(obj)}")
    unchecked = []
    for obj in ordered:  # everything checked by the API server before anything changes
        if args.dry_run and obj["metadata"].get("namespace") in {o["metadata"]["name"] for o in fresh}:
            unchecked.append(obj)
        elif args.dry_run or obj not in fresh:
            cluster.apply(obj, dry_run=True)
    if args.dry_run:
        checked = len(ordered) - len(unchecked)
        print(f"tandem: dry run: the API server accepts {'' if unchecked else 'all '}{checked} object(s)"
              + (f" (and {len(unchecked)} more in namespaces this overlay creates, checked only once they exist)"
                 if unchecked else "") + "; nothing was published or applied")
        for server, (version, _, source) in plan.items():
            there = source.complete(server, model, version)
            print(f"  would publish {server} version {version} to {source.location(server, model, version)}"
                  + (" (already there)" if there else ""))
        for obj in ordered:
            print(f"  would apply {manifests.describe(obj)}")
        return OK
    start = time.time()
    publishing = {s: p for s, p in plan.items() if p[1] is not None}
    if publishing:
        with hold(home, "tandem deploy", args.wait):  # `tandem clean` must not remove what is being copied
            for server, (version, local, source) in publishing.items():
                done = source.publish(local)
                print(f"tandem: {server} version {version} {'published to' if done.new else 'already in'} {done.where}")
    for obj in ordered:
        cluster.apply(obj)
    print(f"tandem: applied {len(ordered)} objects (server-side apply): "
          + ", ".join(manifests.describe(o) for o in ordered))
    rollout.wait(cluster, rollouts, args.timeout)
    print(f"tandem: deployed in {time.time() - start:.1f}s")
    _print_servers(cluster, [cluster.get("apps/v1", "Deployment", r.name, r.namespace) for r in rollouts])
    return OK


def _new_namespaces(cluster, objects: list[dict]) -> list[dict]:
    """The overlay's Namespace objects that do not exist yet."""
    from deploy.errors import Forbidden

    fresh = []
    for obj in objects:
        if obj["kind"] == "Namespace":
            try:
                if cluster.get("v1", "Namespace", obj["metadata"]["name"], None) is None:
                    fresh.append(obj)
            except Forbidden:  # not allowed to read it: take it as there (creating it would be forbidden too)
                pass
    return fresh


def _print_servers(cluster, deployments: list[dict]) -> None:
    from deploy.status import describe, query_line

    for deployment in deployments:
        s = describe(cluster, deployment)
        state = "ready" if s.ready else "not ready"
        print(f"  {s.server:<6} {s.namespace}/{s.name}: {s.model} version {s.version}, {state} ({s.message})")
        if len(s.history) > 1:
            print(f"         deployed before: {', '.join(map(str, s.history[:-1]))} (rollback: tandem rollback "
                  f"{s.server} --namespace {s.namespace})")
        print(f"         model source: {s.source}")
        for endpoint in s.endpoints:
            print(f"         {endpoint.how}")
            print(f"         {query_line(s.server, endpoint)}")
        if not s.endpoints:
            print("         no Service selects its pods")


class _Nothing(Exception):
    """A server with nothing to roll back: an error for it alone, a note for `rollback` of all."""


def _rollback_plan(args, cluster, server: str):
    """(the object to apply, its Rollout, a line saying what happens) for one server."""
    from deploy import MODEL_ANNOTATION, OVERLAY_ANNOTATION, manifests, models, rollout, status
    from deploy.errors import ModelSourceError

    found, listed = status.find(cluster, args.namespace, server)
    if not found:
        raise _Nothing(f"no {server} server deployed by tandem in {_where(cluster, listed)}: deploy it first "
                       "(tandem deploy)")
    if len(found) > 1:
        spaces = ", ".join(d["metadata"]["namespace"] for d in found)
        raise UsageError(f"the {server} server runs in several namespaces ({spaces}): choose one with --namespace")
    live = found[0]
    meta, entries, base = live["metadata"], manifests.history(live), manifests.applied(live)
    if base is None:
        raise Failed(f"{manifests.describe(live)} carries no record of what tandem applied: deploy it with tandem "
                     "first")
    if len(entries) < 2:
        only = entries[-1]["version"] if entries else manifests.pinned_version(live)
        raise _Nothing(f"no earlier version of the {server} server to roll back to: tandem deployed only version "
                       f"{only} to {meta['namespace']}/{meta['name']}")
    current, previous = entries[-1]["version"], entries[-2]["version"]
    model = manifests.annotations(base).get(MODEL_ANNOTATION) or dataset(args).model_name
    source_uri, overlay = manifests.model_source(base), manifests.annotations(base).get(OVERLAY_ANNOTATION)
    try:
        source = models.source_for(source_uri)
        held = (source.complete(server, model, previous)
                if not isinstance(source, models.VolumeSource) or os.path.isdir(source.root) else None)
    except ModelSourceError:
        held = None  # not reachable from here: the init container will say
    if held is False:
        raise Failed(f"version {previous} is no longer complete in {source_uri}: publish it again with `tandem "
                     f"deploy {server} --overlay {overlay or 'NAME'} --version {previous} --namespace "
                     f"{meta['namespace']}` from a home that pushed it")
    obj = manifests.pin(base, model, previous, source_uri, entries[:-1], overlay=overlay)
    again = f"tandem deploy {server} --overlay {overlay or 'NAME'} --version {current} --namespace {meta['namespace']}"
    return (obj, rollout.Rollout(server, meta["namespace"], meta["name"], previous, current, undo=again),
            f"tandem: rolling the {server} server {meta['namespace']}/{meta['name']} back from version {current} to "
            f"{previous} ({cluster.where})")


def rollback(args) -> int:
    from deploy import rollout
    from deploy.errors import DeployError

    servers = SERVERS if args.server == "all" else (args.server,)
    try:
        cluster = _cluster(args)
        cluster.check()
        plans, notes = [], []
        for server in servers:
            try:
                plans.append(_rollback_plan(args, cluster, server))
            except _Nothing as nothing:
                if args.server != "all":
                    raise Failed(str(nothing)) from None
                notes.append(str(nothing))
        if not plans:
            raise Failed("nothing to roll back: " + "; ".join(notes))
        for note in notes:
            print(f"tandem: {note}: left as it is")
        for obj, _, line in plans:
            print(line)
            cluster.apply(obj)
        rollouts = [r for _, r, _ in plans]
        seconds = rollout.wait(cluster, rollouts, args.timeout)
        print(f"tandem: rolled back in {seconds:.1f}s")
        _print_servers(cluster, [cluster.get("apps/v1", "Deployment", r.name, r.namespace) for r in rollouts])
    except DeployError as error:
        raise Failed(str(error)) from None
    return OK


def status(args) -> int:
    from deploy.errors import DeployError
    from deploy.status import find

    try:
        cluster = _cluster(args)
        cluster.check()
        found, listed = find(cluster, args.namespace)
        where = _where(cluster, listed)
        if not found:
            print(f"tandem: no tandem model server in {where} (deploy one: tandem deploy --overlay NAME)")
            return OK
        print(f"tandem: model servers in {where}:")
        _print_servers(cluster, found)
    except DeployError as error:
        raise Failed(str(error)) from None
    return OK


def compile_pipeline(args) -> int:
    from tandem.inputs import beam_options, writable_home
    from tandem.logs import logs_to_file

    beam_args = beam_options(args, local_home=False)
    out = os.path.abspath(args.out)
    home = writable_home(args.home)  # its logs/ takes what TensorFlow and TFX say
    with logs_to_file(home, "compile-kfp", args.verbose):
        from pipelines.branches import by_cli_name  # TensorFlow and TFX: their start-up lines go to the log
        from pipelines.kfp import compile_specs

        try:
            written = compile_specs(args.dataset, by_cli_name(args.pipeline), image=args.image, out_dir=out,
                                    beam_args=beam_args, serving_root=args.serving_root,
                                    input_pattern=args.input_pattern)
        except ValueError as error:
            raise UsageError(str(error)) from None
    for path, spec in written.items():
        tasks = spec["root"]["dag"]["tasks"]
        print(f"tandem: wrote {path}: KFP v2 pipeline {spec['pipelineInfo']['name']}, {len(tasks)} tasks, "
              f"image {args.image}")
    print("  runtime parameters: data-root (a folder of CSV files the pods can read, e.g. gs://BUCKET/data), "
          "schema-file (default: the dataset's, in the image); the pipeline root is the run's (KFP: pipeline_root "
          "when submitting, else the cluster's default; Vertex AI: PipelineJob(pipeline_root=…))")
    return OK
