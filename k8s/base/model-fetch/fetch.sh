#!/bin/sh
# Copy one model version into the pod's /models, and for TF Serving render its models.config for
# it (tfserving-config.sh):
#   fetch.sh keras  ->  /models/keras/$MODEL_NAME/<version>/               (TF Serving)
#   fetch.sh torch  ->  /models/torch/model_store/$MODEL_NAME-<version>.mar  (TorchServe)
# From where: store.sh, beside this script in the model-fetch ConfigMap, defines the store_*
# functions for one kind of store (store-volume.sh lists them): the tandem-models volume mounted
# at /source (store-volume.sh), Cloud Storage (components/gke/store-gcs.sh) or S3
# (components/eks/store-s3.sh).
# Which version, from which layout:
# - `tandem deploy` pins TANDEM_MODEL_NAME, TANDEM_MODEL_VERSION and TANDEM_MODEL_SOURCE in the
#   pod (deploy/__init__.py): <root>/<tf|torch>/<model>/<version>/ (the SavedModel's files, or
#   <model>.mar), copied only once <root>/<tf|torch>/<model>/<version>.complete exists; the root
#   is store_deploy_root (/source for the volume, TANDEM_MODEL_SOURCE for a bucket).
# - otherwise tandem-model's MODEL_NAME and KERAS_VERSION / TORCH_VERSION, a number or "latest"
#   (the highest: pin numbers in production, a half-finished upload has one too), in a
#   tandem_home/serving or an upload of it ($MODEL_URI): keras/<model>/<version>/ and
#   torch/model_store/<model>-<version>.mar (tandem pushes under hidden names, renamed complete).
set -eu
kind=$1
case $kind in
  keras) server=tf ;;
  torch) server=torch ;;
  *) echo "usage: fetch.sh keras|torch" >&2; exit 2 ;;
esac
fail() { echo "fetch-model: $*" >&2; exit 1; }
# shellcheck source-path=SCRIPTDIR source=store-volume.sh  # (the volume's; the others define the same)
. /etc/model-fetch/store.sh

if [ -n "${TANDEM_MODEL_VERSION:-}" ]; then
  MODEL_NAME=$TANDEM_MODEL_NAME
  export MODEL_NAME
  version=$TANDEM_MODEL_VERSION
  src=$(store_deploy_root)/$server/$MODEL_NAME/$version
  store_exists "$src.complete" || fail "$src is not complete (no $src.complete)"
  if [ "$kind" = keras ]; then
    mkdir -p "/models/keras/$MODEL_NAME"
    store_copy_dir "$src" "/models/keras/$MODEL_NAME"
  else
    mkdir -p /models/torch/model_store
    store_copy_file "$src/$MODEL_NAME.mar" "/models/torch/model_store/$MODEL_NAME-$version.mar"
  fi
elif [ "$kind" = keras ]; then
  src=$MODEL_URI/keras/$MODEL_NAME
  version=$KERAS_VERSION
  if [ "$version" = latest ]; then
    version=$(store_list_versions "$src" | sort -n | tail -n 1)
  fi
  if [ -z "$version" ] || ! store_exists "$src/$version/"; then
    fail "no version '$version' under $src"
  fi
  mkdir -p "/models/keras/$MODEL_NAME"
  store_copy_dir "$src/$version" "/models/keras/$MODEL_NAME"
else
  src=$MODEL_URI/torch/model_store
  version=$TORCH_VERSION
  if [ "$version" = latest ]; then
    version=$(store_list_mars "$src" "$MODEL_NAME" | sort -n | tail -n 1)
  fi
  if [ -z "$version" ] || ! store_exists "$src/$MODEL_NAME-$version.mar"; then
    fail "no $MODEL_NAME-$version.mar under $src"
  fi
  mkdir -p /models/torch/model_store
  store_copy_file "$src/$MODEL_NAME-$version.mar" /models/torch/model_store/
fi

echo "fetch-model: $MODEL_NAME version $version ($kind) from $src"
if [ "$kind" = keras ]; then
  sh /etc/model-fetch/tfserving-config.sh "$version"
fi
