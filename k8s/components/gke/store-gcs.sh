# shellcheck shell=sh
# Where fetch.sh copies from, sourced by it as store.sh (the functions: base/model-fetch/
# store-volume.sh): Cloud Storage, through the Google Cloud CLI the init container runs
# (fetch-from-gcs.yaml). MODEL_URI and TANDEM_MODEL_SOURCE are gs://… URLs.
store_deploy_root() { echo "${TANDEM_MODEL_SOURCE%/}"; }
store_exists() { gcloud storage ls "$1" >/dev/null 2>&1; }
store_copy_dir() { gcloud storage cp --recursive "$1" "$2/"; }
store_copy_file() { gcloud storage cp "$1" "$2"; }
store_list_versions() {
  gcloud storage ls "$1/" | sed -n 's#.*/\([0-9][0-9]*\)/$#\1#p'
}
store_list_mars() {
  gcloud storage ls "$1/" | sed -n "s#.*/$2-\([0-9][0-9]*\)\.mar\$#\1#p"
}
