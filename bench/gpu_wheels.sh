#!/usr/bin/env bash
# Fetch into .whl/ the wheels that bench/gpu.sh needs on the lent GPU machine and that its image lacks.
# Run it HERE (it needs the package registry), from anywhere; the GPU machine reaches no registry, so the wheels travel with
# the working tree (the device tool's carry [".whl"]) and bench/gpu_device.sh installs them there into /tmp/site.
#
# The machine (/work/.library/device/KINDS.md): Python 3.12.3, torch 2.11.0+cu130, numpy 2.5.2, transformers 5.17.0,
# huggingface_hub 1.33.0, matplotlib, pandas, pyarrow, safetensors, scipy, scikit-learn, scikit-image, timm, opencv, ...
# So torch and everything on that list stay out: only what is missing there, at versions whose pins accept torch 2.11 and
# numpy 2.5. medsae itself is not a wheel: the repository travels anyway and gpu_device.sh puts its root on PYTHONPATH.
# The list below is what the gpu.sh path imports, found by importing it in a Python 3.12 environment with torch 2.11.0,
# numpy 2.5.2 and the machine's other packages (no network); a peer's declared requirements that its training path never
# imports (sae-lens: plotly, nltk, typeguard, ...; nnsight: diffusers; wandb: opentelemetry's SDK and exporters) stay out.
#
#   bash bench/gpu_wheels.sh                # all four peers: 26 wheels, about 29 MiB (wandb alone is 19.4 MiB)
#   bash bench/gpu_wheels.sh --no-saelens   # without sae-lens and its tree (transformer-lens, wandb): 20 wheels, about 7.5 MiB
set -euo pipefail
cd "$(dirname "$0")/.."
PIP=${PIP:-python3 -m pip}

# name==version, one group per user; each group's comment says why
medsae=(
  fastcore==1.14.5                # medsae's own dependency (settings.ini: fastcore>=1.5.29,<2); not on the machine
  typing-extensions==4.16.0       # on the machine at an unknown version: pydantic 2.14 imports typing_extensions.Sentinel (4.14+);
)                                 #   a newer typing-extensions is backward compatible with torch's and the others' use of it
sparsify=(
  eai-sparsify==1.3.3 simple-parsing==0.1.9 docstring-parser==0.18.0 natsort==8.4.0 schedulefree==1.4.1
  datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19   # sparsify imports datasets (its pins: huggingface-hub>=1.31, the machine has 1.33)
)
dictionary_learning=(
  dictionary-learning==0.1.0      # its package __init__ imports its ActivationBuffer, hence nnsight (pinned <0.4 by it)
  nnsight==0.3.7 pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5
  python-socketio==5.18.1 python-engineio==4.15.1 bidict==0.24.1
)
overcomplete=(
  overcomplete==0.3.0             # the rest it imports (timm, opencv, scikit-image, scikit-learn, matplotlib) is on the machine
)
saelens=(
  sae-lens==6.54.12 transformer-lens==3.9.0 better-abc==0.0.3    # sae-lens pins transformer-lens <4
  wandb==0.31.0 platformdirs==4.14.9 opentelemetry-api==1.45.2   # imported by its trainer's module (logging to wandb stays off)
)
wanted=("${medsae[@]}" "${sparsify[@]}" "${dictionary_learning[@]}" "${overcomplete[@]}")
case "${1:-}" in
  --no-saelens) echo "gpu_wheels: without sae-lens: train_throughput.py will report it as skipped" ;;
  '') wanted+=("${saelens[@]}") ;;
  *) echo "usage: bash bench/gpu_wheels.sh [--no-saelens]" >&2; exit 2 ;;
esac

rm -rf .whl && mkdir .whl   # one version of each: two of one package stop the whole install there
$PIP download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "${wanted[@]}" 2>&1 | grep -v '^WARNING: Location' || true
n=$(ls .whl/*.whl | wc -l)
[ "$n" = "${#wanted[@]}" ] || { echo "gpu_wheels: ${#wanted[@]} wheels asked for, $n in .whl/" >&2; exit 1; }

git check-ignore -q .whl/x.whl || echo "gpu_wheels: .whl/ is not ignored by git here: add /.whl/ to .gitignore or .git/info/exclude" >&2
ls -l .whl | awk 'NR > 1 {printf "%10d  %s\n", $5, $9}'
wheels=$(du -cb .whl/*.whl | tail -1 | cut -f1)
tree=$(git ls-files -z --cached --others --exclude-standard | du --files0-from=- -cb 2>/dev/null | tail -1 | cut -f1)
total=$((wheels + tree))
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
echo "gpu_wheels: $n wheels, $(mib $wheels); with the working tree that travels ($(mib $tree)): $(mib $total) of the 64 MiB a call carries"
[ "$total" -lt $((56 * 1048576)) ] || { echo "gpu_wheels: over 56 MiB: too close to the limit; try --no-saelens" >&2; exit 1; }
