"""ServingInfraValidator: the new model behind a real server, before it may be pushed.

TFX's InfraValidator runs TF Serving only in Docker or Kubernetes (neither exists on a
developer's machine here), and nobody validates TorchServe. This component does for both
branches what InfraValidator does: load the candidate into the model server that will serve
it — TorchServe for the .mar (archived as the pusher will), TF Serving's real binary for the
SavedModel where it is on PATH and else KServe's V1 server (TF Serving's REST API) — on free
loopback ports, send it raw eval rows through the request contract and one bad request, and
write TFX's InfraBlessing (INFRA_BLESSED / INFRA_NOT_BLESSED, `blessed` 1/0). The pushers push
only an infra-blessed model. A model that was not blessed is not started ("skipped").

The server belongs to the run (it carries the run's id, see pipelines/home.py): an
interrupted or killed run does not leave it behind. For clusters, TFX's own InfraValidator
(tfx.components.InfraValidator with a KubernetesConfig serving spec) is the drop-in
alternative for the Keras branch: see the README.
"""

import math
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import tensorflow as tf
import tensorflow_transform as tft
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types.standard_artifacts import Examples, InfraBlessing, Model, ModelBlessing, TransformGraph
from tfx.utils import path_utils

from components import datasets
from pipelines.eval_rows import read_eval_rows
from serving import client, registry

ROWS = 16  # raw eval rows sent to the server


def _rows(examples, transform_graph, dataset) -> list[dict]:
    columns, _ = read_eval_rows(examples, tft.TFTransformOutput(transform_graph.uri), dataset, labels=False)
    count = min(ROWS, len(next(iter(columns.values()))))
    return [{name: (str(values[i]) if dataset.is_string(name) else
                    (None if math.isnan(values[i]) else float(values[i]))) for name, values in columns.items()}
            for i in range(count)]


def _start(server: str, model: Model, dataset, workdir: str) -> tuple[registry.Server, str | None]:
    """The candidate behind the server that will serve it; (the server, its inference token)."""
    if server == "torch":
        from pipelines.torch_branch.pusher import archive, contract_of
        from pipelines.torch_branch.runtime import MODEL_FILE
        from serving.torchserve import server as torchserve

        store = os.path.join(workdir, "model_store")
        os.makedirs(store, exist_ok=True)
        mar = os.path.join(store, f"{dataset.model_name}-0.mar")
        archive(os.path.join(path_utils.serving_model_path(model.uri), MODEL_FILE), contract_of(dataset), mar,
                dataset.model_name, "0")
        # TorchServe's worker sockets live in its folder, and a socket's path is short (107
        # characters): a temporary folder (the run's, pipelines/home.py), with a short name,
        # not one deep in the pipeline's outputs.
        short = tempfile.mkdtemp(prefix="ts-")
        started = registry.on_free_ports(
            lambda ports: torchserve.start(model_path=mar, model_name=dataset.model_name, workdir=short,
                                           ports=ports, detach=False),
            ("inference", "management", "metrics", "grpc", "grpc_management"))
        return started, torchserve.keys(short)["inference"]
    saved_model = path_utils.serving_model_path(model.uri)
    if shutil.which("tensorflow_model_server"):
        from serving.tfserving.server import start
    else:
        from serving.kserve.server import start_tf as start
    return registry.on_free_ports(
        lambda ports: start(model_path=saved_model, model_name=dataset.model_name, workdir=workdir, ports=ports,
                            detach=False), ("rest", "grpc")), None


def _check(server: registry.Server, token: str | None, rows: list[dict], contract: dict) -> str:
    """Good rows answer one probability each; a bad one is refused. Returns what was seen."""
    url = server.endpoints.get("inference") or server.endpoints["rest"]
    start = time.time()
    answers = client.predict_rest(url, client.for_server(rows, contract, server.backend), token=token)
    took = time.time() - start
    if len(answers) != len(rows) or not all(0.0 <= p <= 1.0 for p in answers):
        raise ValueError(f"{len(rows)} rows answered {answers!r}: one probability per row expected")
    try:
        client.predict_rest(url, [{**rows[0], "no_such_feature": 1}], token=token)
    except client.RequestRefused:
        pass
    else:
        raise ValueError("a row with an unknown feature was answered: the server does not enforce the contract")
    return f"{server.backend} answered {len(rows)} rows in {took * 1000:.0f} ms and refused a bad request"


@component
def ServingInfraValidator(
    model: InputArtifact[Model],
    model_blessing: InputArtifact[ModelBlessing],
    examples: InputArtifact[Examples],
    transform_graph: InputArtifact[TransformGraph],
    blessing: OutputArtifact[InfraBlessing],
    server: Parameter[str],  # "tf" (the SavedModel) or "torch" (the .mar)
    dataset: Parameter[str],
    code: Parameter[str],  # a fingerprint of this code, for TFX's cache key
) -> None:
    """Bless the model for serving if its server loads it and answers the contract."""
    del code
    data = datasets.load(dataset)
    if model_blessing.get_int_custom_property("blessed") != 1:
        verdict, why = False, "skipped: the model was not blessed"
    else:
        workdir = os.path.join(blessing.uri, "server")
        started = None
        try:
            with ThreadPoolExecutor(1) as reader:  # the rows are read while the server starts
                rows = reader.submit(_rows, examples, transform_graph, data)
                started, token = _start(server, model, data, workdir)
                verdict, why = True, _check(started, token, rows.result(), data.contract())
        except (registry.ServingError, client.ClientError, ValueError, OSError) as error:
            verdict, why = False, f"{type(error).__name__}: {error}"
        finally:
            if started is not None:
                registry.terminate(started)
                if started.workdir != workdir:
                    shutil.rmtree(started.workdir, ignore_errors=True)
    blessing.set_int_custom_property("blessed", int(verdict))
    blessing.set_string_custom_property("reason", why)
    with tf.io.gfile.GFile(os.path.join(blessing.uri, "INFRA_BLESSED" if verdict else "INFRA_NOT_BLESSED"), "w") as f:
        f.write(why)
