"""KerasPusher: TFX's Pusher, publishing atomically (pipelines/push.py).

TFX's own Pusher copies into `<base>/<unix seconds>/` in place (a half-copied version is
visible to TF Serving), skips the copy but records a push when two land in one second,
and pushes an identical model again on every cached re-run. This executor keeps its
blessing checks, its PushedModel record and its properties, and only changes how the
version lands.
"""

from absl import logging
from tfx import types
from tfx.components import Pusher
from tfx.components.pusher import executor as tfx_pusher
from tfx.dsl.components.base import executor_spec
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

from pipelines.push import publish_saved_model


class AtomicPusherExecutor(tfx_pusher.Executor):
    def Do(self, input_dict: dict[str, list[types.Artifact]], output_dict: dict[str, list[types.Artifact]],
           exec_properties: dict) -> None:
        pushed_model = artifact_utils.get_single_instance(output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(pushed_model)
            return
        model_path = self.GetModelPath(input_dict)
        destination = proto_utils.json_to_proto(
            exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], pusher_pb2.PushDestination())
        pushed = publish_saved_model(model_path, destination.filesystem.base_directory, source=model_path)
        logging.info("Model %s as version %d in %s", "pushed" if pushed.new else "already pushed",
                     pushed.version, pushed.path)
        io_utils.copy_dir(model_path, pushed_model.uri)  # TFX's record of what was pushed
        self._MarkPushed(pushed_model, pushed_destination=pushed.path, pushed_version=str(pushed.version))
        pushed_model.set_int_custom_property("pushed_again", int(pushed.new))


class KerasPusher(Pusher):
    """TFX's Pusher component with the atomic executor."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(AtomicPusherExecutor)
