#!/usr/bin/env bash
# The GPU path of the scale benchmark (part 1) and of the training throughput benchmark (part 2), on one CUDA GPU.
# Part 1: medsae's training and feature stages at d_in 2048, d_sae 65,536, k 64,
# 2^20 activation rows read out of core from a .npy file (training) and a medsae activations folder (features).
# Prints activations/s and the GPU's peak allocated memory per stage, and writes bench/gpu.md.
# Part 2: bench/train_throughput.py on the GPU (bf16 autocast for medsae, its bound a bf16 product) at d_in 2048, 16k and 64k
# latents, k 64, against the peers installed in this environment (its docstring lists them); writes bench/train_throughput_gpu.md.
# Meant to finish in under 5 minutes together; each part stopped after 5. Without a CUDA GPU it says so and exits with status 2 at once.
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
timeout 300 python bench/scale.py --gpu --work "${MEDSAE_SCALE_WORK:-/tmp/medsae-scale-gpu}" "$@"
timeout 300 python bench/train_throughput.py --device cuda --bound_dtype bfloat16 --d_in 2048 --d_sae 16384,65536 --k 64 --steps 40 --warmup 3 \
  --out bench/train_throughput_gpu
