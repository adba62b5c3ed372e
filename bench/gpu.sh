#!/usr/bin/env bash
# The GPU path of the scale benchmark (part 1) and of the training throughput benchmark (part 2), on one CUDA GPU.
# Part 1: medsae's training and feature stages at d_in 2048, d_sae 65,536, k 64, on 2^19 activation rows
# (bench/scale.py --gpu; --gpu_rows N for another number) read out of core from a .npy file (training, 2^20 rows: two epochs)
# and a medsae activations folder (features). Prints activations/s and the GPU's peak allocated memory per stage,
# and writes bench/gpu.md (with gpu.jsonl and gpu.png).
# Part 2: bench/train_throughput.py on the GPU (bf16 autocast for medsae, its bound a bf16 product) at d_in 2048, 16k and 64k
# latents, k 64, against the peers importable here (its docstring lists them; a missing one is reported as skipped);
# writes bench/train_throughput_gpu.md and .jsonl, after each width.
# Meant to take 3-5 minutes on a 16-core H100 machine (an estimate; not measured yet); each part is stopped after 4 minutes, and part 2 runs even if part 1
# failed. Exits non-zero if either part failed. Without a CUDA GPU it says so in one line and exits with status 2 at once.
#
#   bash bench/gpu.sh                  # from the repository root, in medsae's environment
#   bash bench/gpu.sh --gpu_rows 1048576                 # arguments go to bench/scale.py
#   MEDSAE_SCALE_WORK=/scratch/scale bash bench/gpu.sh   # where the ~9 GB of data go (default /tmp/medsae-scale-gpu)
#   PYTHON=/path/to/python bash bench/gpu.sh             # the interpreter (default python3; bench/gpu_device.sh uses the GPU machine's)
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
why=$("$PY" -c '
import sys
try: import torch
except Exception as e: print(f"torch does not import ({type(e).__name__}: {e})"); sys.exit(1)
if not torch.cuda.is_available(): print(f"no CUDA GPU is visible to torch {torch.__version__} (torch.cuda.is_available() is False)"); sys.exit(1)
' 2>&1) || { echo "bench/gpu.sh: ${why:-$PY does not run}: run it on a machine with a CUDA GPU" >&2; exit 2; }
"$PY" -c 'import torch; print("bench/gpu.sh on", torch.cuda.get_device_name(0), "| torch", torch.__version__, "| CUDA", torch.version.cuda)'

SECONDS=0
timeout 240 "$PY" bench/scale.py --gpu --work "${MEDSAE_SCALE_WORK:-/tmp/medsae-scale-gpu}" "$@"
part1=$?
echo "bench/gpu.sh: part 1 (bench/scale.py --gpu) exited with $part1 after ${SECONDS} s$([ $part1 = 124 ] && echo ': stopped at its 240 s limit')"

SECONDS=0
timeout 240 "$PY" bench/train_throughput.py --device cuda --bound_dtype bfloat16 --d_in 2048 --d_sae 16384,65536 --k 64 --steps 40 --warmup 3 \
  --out bench/train_throughput_gpu
part2=$?
echo "bench/gpu.sh: part 2 (bench/train_throughput.py) exited with $part2 after ${SECONDS} s$([ $part2 = 124 ] && echo ': stopped at its 240 s limit (the widths done are in bench/train_throughput_gpu.md)')"
[ $part1 = 0 ] && [ $part2 = 0 ]
