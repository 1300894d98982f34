"""What can go wrong on the way to a cluster, one class per cause; each message says what to do."""


class DeployError(Exception):
    """Base: the message is one line (or a few), said to the user as it is."""


class RenderError(DeployError):
    """The overlay could not be rendered (no kustomize, or kustomize refused it)."""


class NoCluster(DeployError):
    """No kubeconfig or context, or the API server cannot be reached."""


class Unauthorized(DeployError):
    """401: the credentials were refused."""


class Forbidden(DeployError):
    """403: RBAC does not allow what tandem asked."""


class NamespaceMissing(DeployError):
    """404 for the namespace itself."""


class Conflict(DeployError):
    """409: another field manager owns fields tandem applies."""


class RolloutFailed(DeployError):
    """A rollout did not finish in time, or Kubernetes gave up on it."""


class NotDeployed(DeployError):
    """Nothing (or nothing earlier) to act on in the cluster."""


class ModelSourceError(DeployError):
    """The model source cannot be written or read."""
