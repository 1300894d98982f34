# shellcheck shell=sh
# Where fetch.sh copies from, sourced by it as store.sh: here the tandem-models volume, mounted
# read-only at /source (model.env: MODEL_URI=/source). The gke and eks components replace it in
# the model-fetch ConfigMap with their bucket's (components/gke/store-gcs.sh,
# components/eks/store-s3.sh). Each store defines:
#   store_deploy_root          where `tandem deploy` publishes (TANDEM_MODEL_SOURCE, as the pod sees it)
#   store_exists PATH          succeeds if PATH exists (a folder: PATH ends in /)
#   store_copy_dir SRC DIR     copies the folder SRC into the folder DIR, as DIR/<SRC's last name>
#   store_copy_file SRC DST    copies the file SRC to DST (a file, or a folder when DST ends in /)
#   store_list_versions DIR    prints DIR's numeric sub-folders (keras versions), one a line
#   store_list_mars DIR MODEL  prints the <version> of each DIR/MODEL-<version>.mar, one a line
store_deploy_root() { echo /source; }  # the host folder TANDEM_MODEL_SOURCE names, mounted here
store_exists() { test -e "$1"; }
store_copy_dir() { cp -R "$1" "$2/"; }
store_copy_file() { cp "$1" "$2"; }
store_list_versions() {
  find "$1" -mindepth 1 -maxdepth 1 -type d | sed 's#.*/##' | grep -E '^[0-9]+$'
}
store_list_mars() {
  find "$1" -mindepth 1 -maxdepth 1 -type f -name "$2-*.mar" | sed -n "s#.*/$2-\([0-9][0-9]*\)\.mar\$#\1#p"
}
