#!/usr/bin/env bash
# The --full r2/bottleneck recipe on 1 GPU (CUDA graphs) and on 2 GPUs (torchrun, NCCL, eager
# DDP), then the analysis of each model. Figures of the 2026-11-28 run: docs/performance.md.
# Keep NVLink multicast off on shared hosts.
set -euo pipefail
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
physdistill simulate r2 --device cuda --out data/r2-full --force
physdistill train data/r2-full --reg bottleneck --epochs 30 --steps-per-epoch 5000 \
  --device cuda --out runs/r2-1gpu --force
python -m torch.distributed.run --nproc_per_node 2 -m physdistill.cli train data/r2-full \
  --reg bottleneck --epochs 30 --steps-per-epoch 1250 --device cuda --out runs/r2-2gpu --force
for run in r2-1gpu r2-2gpu; do
  physdistill nbody r2 --full --data data/r2-full --model "runs/$run" --out "runs/$run-analysis" --force
done
