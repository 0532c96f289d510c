#!/usr/bin/env bash
# SymTorch's reproduction of Cranmer et al. 2020 (shared/reference.md §2): robust R² of the two
# kept message channels vs the true force, for 4 laws x 5 regularisers, beside the published
# numbers (experiments/reference_numbers.json), plus how many channels SR recovered.
#
#   bash experiments/cranmer_symtorch_table.sh            # --full recipe, needs a GPU
#   bash experiments/cranmer_symtorch_table.sh --quick    # CPU-sized, for a smoke run
#
# Writes runs/cranmer-table/table.md. Expected with --full: bottleneck and pruning highest, KL
# and standard lowest, as published; our all-points R² is reported beside the robust one.
set -euo pipefail
preset=${1:---full}
physdistill nbody-table "$preset" --laws spring r1 r2 charge \
  --regs bottleneck pruning l1 standard kl --out runs/cranmer-table
