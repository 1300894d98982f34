#!/bin/sh
# Render TF Serving's model config for the one version this pod serves: serving/tfserving/
# models.config is a template (string.Template placeholders, which serving/tfserving/server.py
# fills for `tandem serve tf`); here the fetch scripts call this after copying version $1.
#   /etc/tfserving/models.config (ConfigMap)  ->  /models/config/models.config
# The version is both "stable" and "canary", as with `tandem serve tf` and no newer push.
set -eu
version=$1
mkdir -p /models/config
sed -e "s#\$model_name#$MODEL_NAME#g" \
    -e "s#\$base_path#/models/keras/$MODEL_NAME#g" \
    -e "s#\$versions#versions: $version#g" \
    -e "s#\$stable#$version#g" \
    -e "s#\$canary#$version#g" \
    /etc/tfserving/models.config > /models/config/models.config
if grep -v '^ *#' /models/config/models.config | grep -q '\$'; then
  echo "fetch-model: placeholders left in models.config" >&2; exit 1
fi
echo "fetch-model: /models/config/models.config serves $MODEL_NAME version $version"
