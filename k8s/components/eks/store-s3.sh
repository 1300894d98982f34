# shellcheck shell=sh
# Where fetch.sh copies from, sourced by it as store.sh (the functions: base/model-fetch/
# store-volume.sh): S3, through the AWS CLI the init container runs (fetch-from-s3.yaml).
# MODEL_URI and TANDEM_MODEL_SOURCE are s3://… URLs; `aws s3 ls` matches a prefix, so a folder
# is given with its trailing /.
store_deploy_root() { echo "${TANDEM_MODEL_SOURCE%/}"; }
store_exists() { aws s3 ls "$1" >/dev/null 2>&1; }
store_copy_dir() { aws s3 cp --recursive --only-show-errors "$1/" "$2/${1##*/}/"; }
store_copy_file() { aws s3 cp --only-show-errors "$1" "$2"; }
store_list_versions() {
  aws s3 ls "$1/" | sed -n 's#^ *PRE \([0-9][0-9]*\)/$#\1#p'
}
store_list_mars() {
  aws s3 ls "$1/" | sed -n "s#.* $2-\([0-9][0-9]*\)\.mar\$#\1#p"
}
