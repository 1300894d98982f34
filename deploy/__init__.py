"""Deploying the pushed models to Kubernetes: `tandem deploy`, `tandem rollback`, `tandem status`.

    manifests.py  render an overlay (kustomize), find the servers in it, pin a model version
    models.py     publish a version where the pods read models first: a volume or an object store
    cluster.py    the user's cluster, as kubectl finds it; server-side apply; clear errors
    rollout.py    wait for the Deployments to roll out, and say what is left running if they do not
    status.py     what version runs where, whether it is ready, and its endpoints

The contract with the manifests (k8s/base, k8s/overlays/*):
- A model server is a Deployment labelled `tandem.dev/server: tf` (TF Serving) or `torch`
  (TorchServe), annotated `tandem.dev/model-source: SOURCE`: where its pods read models, the
  overlay's choice: an absolute path (a volume: a hostPath, or the folder behind a PVC, as
  this machine sees it), `gs://bucket/prefix`, `s3://bucket/prefix`, or `file:///path` (an
  object store's layout on a local folder, e.g. a bucket mounted with a FUSE driver).
- Deploy pins the version each server serves in its pod template: the annotation
  `tandem.dev/model-version`, and the environment of every container and init container:
  TANDEM_MODEL_NAME, TANDEM_MODEL_VERSION, TANDEM_MODEL_SOURCE. A new version changes the
  template, so Kubernetes rolls the Deployment out; the old pods serve until new ones are ready.
- A version in the source: `SOURCE/<server>/<model>/<version>/` (tf: the SavedModel's files;
  torch: `<model>.mar`), complete once `SOURCE/<server>/<model>/<version>.complete` exists.
  That marker is written last (on a volume, after the folder was renamed into place), so the
  model-copying init container copies a version only when its marker is there.
- The deploy history lives in the cluster, on each server Deployment (annotations
  `tandem.dev/history`, newest last, and `tandem.dev/applied`, what tandem applied), so
  `tandem rollback` and `tandem status` work from any machine with the kubeconfig.
"""

SERVER_LABEL = "tandem.dev/server"  # tf | torch, on a server Deployment
SOURCE_ANNOTATION = "tandem.dev/model-source"
VERSION_ANNOTATION = "tandem.dev/model-version"
MODEL_ANNOTATION = "tandem.dev/model-name"
OVERLAY_ANNOTATION = "tandem.dev/overlay"
HISTORY_ANNOTATION = "tandem.dev/history"
APPLIED_ANNOTATION = "tandem.dev/applied"
FIELD_MANAGER = "tandem"  # server-side apply's field manager
SERVERS = ("tf", "torch")
