# syntax=docker/dockerfile:1.7
# tandem's images, one multi-stage build (see k8s/README.md):
#
#   docker build --target pipeline   -t tandem/pipeline:0.1.0-cpu .     the pipelines (tandem CLI)
#   docker build --target torchserve -t tandem/torchserve:0.1.0-cpu .   TorchServe + the handler
#   docker build --target kserve     -t tandem/kserve:0.1.0-cpu .       the .mar on KServe
#
# CUDA variants: --build-arg TORCH_INDEX_URL=https://pypi.org/simple (PyPI's torch is the CUDA
# build that requirements.lock pins, with its nvidia-* wheels) and tag them -cuda. The NVIDIA
# driver comes from the node (GKE mounts it at /usr/local/nvidia; the NVIDIA container toolkit
# injects it elsewhere). BASE_IMAGE can name another glibc >= 2.39 Debian-like base (e.g. an
# nvidia/cuda Ubuntu 24.04 image) for the same stages.
#
# Every Python package comes from requirements.lock (as constraints), so the images hold the
# tested set; the system packages come from scripts/debian-packages.txt, the list scripts/env
# installs too. TF Serving is not built here: the manifests use the official tensorflow/serving.

# Debian 13 (glibc 2.41, Python 3.13, as scripts/env's root): docker-library's trixie-slim index
# digest of 2026-08-03 (repo-info repos/debian/remote/trixie-slim.md).
ARG BASE_IMAGE=debian:trixie-slim@sha256:3a39a0592364683e6bab97937b72cad5a8fa6dcbbee90edb3bb48c7f8e94f258
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

# ---- system: the runtime part of the shared package list, and the unprivileged user --------
FROM ${BASE_IMAGE} AS system
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY scripts/debian-packages.txt /tmp/debian-packages.txt
# Runtime images leave out the build tools of the list (the compiler and -dev headers).
RUN grep -v '^#' /tmp/debian-packages.txt | tr -s ' ' '\n' | grep -vE '^(g\+\+|.*-dev)$' | grep . > /tmp/runtime-packages.txt \
    && apt-get update \
    && xargs -a /tmp/runtime-packages.txt apt-get install -y --no-install-recommends \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 tandem \
    && useradd --uid 10001 --gid 10001 --home-dir /home/tandem --create-home --shell /usr/sbin/nologin tandem

# ---- build: the whole list (compiler, headers), a venv, the lock -----------------------------
FROM system AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN grep -v '^#' /tmp/debian-packages.txt | tr -s ' ' '\n' | grep . > /tmp/all-packages.txt \
    && apt-get update \
    && xargs -a /tmp/all-packages.txt apt-get install -y --no-install-recommends \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PIP_DISABLE_PIP_VERSION_CHECK=1
COPY requirements.lock pyproject.toml /tmp/tandem/
WORKDIR /tmp/tandem
ARG TORCH_INDEX_URL
# torch alone from the variant's index (CPU or CUDA wheels), at the lock's version; its own
# dependencies come from PyPI with everything else, at the lock's versions.
RUN grep -E '^torch==' requirements.lock > /tmp/torch.txt \
    && pip install --no-cache-dir --no-deps --index-url "${TORCH_INDEX_URL}" -c requirements.lock -r /tmp/torch.txt

# ---- pipeline: tandem and its main dependencies ----------------------------------------------
FROM build AS pipeline-build
COPY README.md /tmp/tandem/
COPY components /tmp/tandem/components
COPY pipelines /tmp/tandem/pipelines
COPY reporting /tmp/tandem/reporting
COPY serving /tmp/tandem/serving
COPY tandem /tmp/tandem/tandem
COPY bench /tmp/tandem/bench
RUN grep -E '^(setuptools|wheel)==' requirements.lock > /tmp/build-backend.txt \
    && pip install --no-cache-dir -c requirements.lock -r /tmp/build-backend.txt \
    && pip install --no-cache-dir --no-build-isolation -c requirements.lock .

FROM system AS pipeline
COPY --from=pipeline-build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH TANDEM_HOME=/home/tandem/tandem_home
USER 10001:10001
WORKDIR /home/tandem
ENTRYPOINT ["tandem"]
CMD ["--help"]

# ---- torchserve: torch, TorchServe and tandem's serving code, no TFX ------------------------
FROM build AS torchserve-build
RUN python3 -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['torchserve']))" > /tmp/extra.txt \
    && pip install --no-cache-dir -c requirements.lock -r /tmp/extra.txt

FROM system AS torchserve
# TorchServe's own image's layout, which serving/torchserve/config.properties names: the model
# store, and the JVM's temporary folder (vmargs); both are volumes in Kubernetes.
RUN install -d -o 10001 -g 10001 /home/model-server /home/model-server/model-store /home/model-server/tmp
COPY --from=torchserve-build /opt/venv /opt/venv
COPY serving /opt/tandem/serving
ENV PATH=/opt/venv/bin:$PATH PYTHONPATH=/opt/tandem TEMP=/home/model-server/tmp
USER 10001:10001
WORKDIR /home/model-server
EXPOSE 8080 7070 8082
ENTRYPOINT ["torchserve", "--foreground", "--ncs", "--model-store=/home/model-server/model-store"]
CMD ["--ts-config=/opt/tandem/serving/torchserve/config.properties", "--models=all"]

# ---- kserve: the .mar on KServe's Python runtime (serving/kserve), no TFX -------------------
FROM build AS kserve-build
RUN python3 -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['kserve-torch']))" > /tmp/extra.txt \
    && pip install --no-cache-dir -c requirements.lock -r /tmp/extra.txt

FROM system AS kserve
COPY --from=kserve-build /opt/venv /opt/venv
COPY serving /opt/tandem/serving
ENV PATH=/opt/venv/bin:$PATH PYTHONPATH=/opt/tandem HOME=/tmp
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080
ENTRYPOINT ["python", "-m", "serving.kserve.server"]
