#!/bin/sh
# Copy one model version from Cloud Storage into the pod's /models, and for TF Serving render its
# models.config for it (tfserving-config.sh):
#   fetch.sh keras  ->  /models/keras/$MODEL_NAME/<version>/               (TF Serving)
#   fetch.sh torch  ->  /models/torch/model_store/$MODEL_NAME-<version>.mar  (TorchServe)
# Which version, from which layout:
# - `tandem deploy` pins TANDEM_MODEL_NAME, TANDEM_MODEL_VERSION and TANDEM_MODEL_SOURCE (gs://…)
#   in the pod (deploy/__init__.py): <source>/<tf|torch>/<model>/<version>/ (the SavedModel's
#   files, or <model>.mar), copied only once <version>.complete exists.
# - otherwise tandem-model's MODEL_NAME and KERAS_VERSION / TORCH_VERSION, a number or "latest"
#   (the highest: pin numbers in production, a half-finished upload has one too), in an upload
#   of tandem_home/serving ($MODEL_URI): keras/<model>/<version>/, torch/model_store/<model>-<version>.mar.
set -eu
kind=$1
case $kind in
  keras) server=tf ;;
  torch) server=torch ;;
  *) echo "usage: fetch.sh keras|torch" >&2; exit 2 ;;
esac
fail() { echo "fetch-model: $*" >&2; exit 1; }

if [ -n "${TANDEM_MODEL_VERSION:-}" ]; then
  MODEL_NAME=$TANDEM_MODEL_NAME
  export MODEL_NAME
  version=$TANDEM_MODEL_VERSION
  src=${TANDEM_MODEL_SOURCE%/}/$server/$MODEL_NAME/$version
  gcloud storage ls "$src.complete" >/dev/null 2>&1 || fail "$src is not complete (no $src.complete)"
  if [ "$kind" = keras ]; then
    mkdir -p "/models/keras/$MODEL_NAME"
    gcloud storage cp --recursive "$src" "/models/keras/$MODEL_NAME/"
  else
    mkdir -p /models/torch/model_store
    gcloud storage cp "$src/$MODEL_NAME.mar" "/models/torch/model_store/$MODEL_NAME-$version.mar"
  fi
elif [ "$kind" = keras ]; then
  src=$MODEL_URI/keras/$MODEL_NAME
  version=$KERAS_VERSION
  if [ "$version" = latest ]; then
    version=$(gcloud storage ls "$src/" | sed -n 's#.*/\([0-9][0-9]*\)/$#\1#p' | sort -n | tail -n 1)
  fi
  [ -n "$version" ] || fail "no version under $src"
  mkdir -p "/models/keras/$MODEL_NAME"
  gcloud storage cp --recursive "$src/$version" "/models/keras/$MODEL_NAME/"
else
  src=$MODEL_URI/torch/model_store
  version=$TORCH_VERSION
  if [ "$version" = latest ]; then
    version=$(gcloud storage ls "$src/" | sed -n "s#.*/$MODEL_NAME-\([0-9][0-9]*\)\.mar\$#\1#p" | sort -n | tail -n 1)
  fi
  [ -n "$version" ] || fail "no $MODEL_NAME-<version>.mar under $src"
  mkdir -p /models/torch/model_store
  gcloud storage cp "$src/$MODEL_NAME-$version.mar" /models/torch/model_store/
fi

echo "fetch-model: $MODEL_NAME version $version ($kind) from $src"
if [ "$kind" = keras ]; then
  sh /etc/model-fetch/tfserving-config.sh "$version"
fi
