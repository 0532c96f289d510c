#!/usr/bin/env bash
# The --full r2/bottleneck recipe on 1 GPU and on 2 GPUs (torchrun, NCCL), both with CUDA graphs
# (under torchrun: one all-reduce of the flat gradient buffer per step, captured in the step's
# CUDA graph), the same number of steps of 64 graphs per GPU; then the analysis of each model.
# Figures, with their dates: benchmarks/RESULTS.md ("Multi-GPU training"). Expected on 2 x H200:
# 1 GPU ~163,000-166,000 graphs/s, 2 GPUs ~283,000 graphs/s, scaling efficiency 86-87 % at this
# batch (81 % before the all-reduce was captured; 96 % at 4096 per GPU); final val MAE ~20 (1 GPU)
# and ~15-18 (2 GPUs, twice the graphs); both analyses recover r2 in both channels (the
# unsoftened pair acceleration F / m1). Keep NVLink multicast off on shared hosts.
set -euo pipefail
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
physdistill simulate r2 --device cuda --out data/r2-full --force
physdistill train data/r2-full --reg bottleneck --epochs 30 --steps-per-epoch 5000 \
  --device cuda --out runs/r2-1gpu --force
python -m torch.distributed.run --nproc_per_node 2 -m physdistill.cli train data/r2-full \
  --reg bottleneck --epochs 30 --steps-per-epoch 5000 --device cuda --out runs/r2-2gpu --force
for run in r2-1gpu r2-2gpu; do
  physdistill nbody r2 --full --data data/r2-full --model "runs/$run" --out "runs/$run-analysis" \
    --sr-seconds 60 --force
done
