#!/usr/bin/env bash
# Cluster-wide: the GKE GPU node pool the gke-gpu overlay schedules on. A cluster admin runs it
# once (it needs container.nodePools.create); no deploy command does.
#
#   CLUSTER=my-cluster LOCATION=europe-west4 k8s/cluster/gke/gpu-node-pool.sh
#   DRY_RUN=1 ... prints the gcloud command instead of running it.
#
# GKE labels the nodes cloud.google.com/gke-accelerator=$ACCELERATOR and taints them
# nvidia.com/gpu=present:NoSchedule, installs the NVIDIA driver (gpu-driver-version), and the
# GKE metadata server gives pods Workload Identity. ACCELERATOR must match the node selector in
# k8s/components/gpu-gke (nvidia-l4), and MACHINE_TYPE must carry it (g2-* for L4).
set -euo pipefail

: "${CLUSTER:?set CLUSTER to the name of the GKE cluster}"
: "${LOCATION:?set LOCATION to the region or zone of the cluster}"
POOL=${POOL:-tandem-gpu}
MACHINE_TYPE=${MACHINE_TYPE:-g2-standard-8}
ACCELERATOR=${ACCELERATOR:-nvidia-l4}
GPUS_PER_NODE=${GPUS_PER_NODE:-1}
MIN_NODES=${MIN_NODES:-0}
MAX_NODES=${MAX_NODES:-4}
DISK_SIZE=${DISK_SIZE:-200}

cmd=(gcloud container node-pools create "$POOL"
  --cluster="$CLUSTER" --location="$LOCATION"
  --machine-type="$MACHINE_TYPE"
  --accelerator="type=$ACCELERATOR,count=$GPUS_PER_NODE,gpu-driver-version=latest"
  --enable-autoscaling --min-nodes="$MIN_NODES" --max-nodes="$MAX_NODES"
  --disk-type=pd-balanced --disk-size="$DISK_SIZE"
  --workload-metadata=GKE_METADATA
  --shielded-secure-boot --shielded-integrity-monitoring
  --enable-autoupgrade --enable-autorepair)
if [ -n "${PROJECT:-}" ]; then
  cmd+=(--project="$PROJECT")
fi

if [ "${DRY_RUN:-}" = 1 ]; then
  printf '%q ' "${cmd[@]}"; echo
else
  "${cmd[@]}"
fi
