#!/usr/bin/env bash
# The GPU path of the scale benchmark: medsae's training and feature stages at d_in 2048, d_sae 65,536, k 64 on one CUDA GPU,
# 2^20 activation rows read out of core from a .npy file (training) and a medsae activations folder (features).
# Prints activations/s and the GPU's peak allocated memory per stage, and writes bench/gpu.md. Meant to finish in under 5 minutes;
# stopped after 10. Without a CUDA GPU it says so and exits with status 2 at once.
#
#   bash bench/gpu.sh                  # from the repository root, in medsae's environment
#   MEDSAE_SCALE_WORK=/scratch/scale bash bench/gpu.sh   # where the ~17 GB of data go (default /tmp/medsae-scale-gpu)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  echo "bench/gpu.sh: no CUDA GPU is visible to torch (torch.cuda.is_available() is False; torch $(python -c 'import torch; print(torch.__version__)')): run it on a machine with one" >&2
  exit 2
fi
python -c 'import torch; print("bench/gpu.sh on", torch.cuda.get_device_name(0), "| torch", torch.__version__)'
timeout 600 python bench/scale.py --gpu --work "${MEDSAE_SCALE_WORK:-/tmp/medsae-scale-gpu}" "$@"
