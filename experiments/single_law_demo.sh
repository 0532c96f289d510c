#!/usr/bin/env bash
# Cranmer et al. 2020, single-law demo: simulate, train the bottleneck OGN, distil its 2 message
# channels, compare with the true pair force, roll out.
#
#   bash experiments/single_law_demo.sh [LAW] [--full]
#
# Expected (quick preset, 2-core CPU, <= 10 min, seed 0): spring, r1, r2 and charge are each
# recovered in both channels, in about 200-220 s per law (docs/nbody.md, "Measured").
# With --full on a GPU: the published recipe (10k systems, 3x300 MLPs, 30 x 5000 steps).
set -euo pipefail
law=${1:-r2}
shift || true
physdistill nbody "$law" --reg bottleneck --out "runs/demo-$law" --force "$@"
