#!/usr/bin/env bash
# The one command to give the device tool on a lent GPU machine (bench/GPU.md): `bash bench/gpu_device.sh`, carry [".whl"].
# On that machine: installs the wheels that bench/gpu_wheels.sh fetched into .whl/ (no registry is reached) into /tmp/site,
# puts the repository root (medsae itself) and /tmp/site on PYTHONPATH, prints what it runs on, runs bench/gpu.sh with the
# machine's python3, and copies what comes back into $OUT (6 files, none in a folder):
#   gpu.log                                      everything printed, as it was printed
#   gpu.md gpu.jsonl                             part 1: medsae's train and features stages (bench/scale.py --gpu)
#   train_throughput_gpu.md train_throughput_gpu.jsonl   part 2: the training throughput against the peers
#   machine.txt                                  nvidia-smi, CPUs, memory, disk, and the pip list of the machine and of /tmp/site
# Its status is bench/gpu.sh's (2 without a CUDA GPU, as here). OUT defaults to /tmp/gpu_out off that machine.
#   bash bench/gpu_device.sh                      # the run bench/GPU.md describes
#   bash bench/gpu_device.sh --gpu_rows 262144    # arguments go on to bench/gpu.sh, hence bench/scale.py
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu_out}; mkdir -p "$OUT"
export PYTHON=python3 PYTHONUNBUFFERED=1
[ -n "$(ls .whl/*.whl 2>/dev/null)" ] || { echo "gpu_device: no .whl/*.whl here: run bash bench/gpu_wheels.sh before, and carry [\".whl\"]" >&2; exit 1; }
start=$(mktemp); trap 'rm -f "$start"' EXIT   # results older than this run are not sent back
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit;
export PYTHONPATH="$PWD:$PYTHONPATH"   # medsae from the repository, then the wheels
{ echo "== $(date -u +%FT%TZ) $(uname -m), $(nproc) CPUs"; nvidia-smi 2>&1; free -g; df -h /tmp .
  echo "== pip list (the machine's python3: $(command -v python3))"; PYTHONPATH= python3 -m pip list 2>&1
  echo "== pip list --path /tmp/site"; python3 -m pip list --path /tmp/site 2>&1; } > "$OUT/machine.txt"
python3 -c 'import sys, torch; print("python", sys.version.split()[0], sys.executable, "| torch", torch.__version__, "| CUDA", torch.version.cuda,
            "|", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device")' 2>&1 | tee "$OUT/gpu.log"
bash bench/gpu.sh "$@" 2>&1 | tee -a "$OUT/gpu.log"   # arguments go on to bench/scale.py (--gpu_rows N)
status=${PIPESTATUS[0]}
for f in bench/gpu.md bench/gpu.jsonl bench/train_throughput_gpu.md bench/train_throughput_gpu.jsonl; do [ "$f" -nt "$start" ] && cp "$f" "$OUT/"; done
echo "gpu_device: bench/gpu.sh exited with $status; in \$OUT: $(ls "$OUT" | tr '\n' ' ')" | tee -a "$OUT/gpu.log"
exit "$status"
