#!/usr/bin/env bash
# Regenerates the sample run files that nmstudio shows on first start (README, "Sample runs").
#
#   sample_runs/regenerate.sh [PATH/TO/nmtrain]     (default: build/release/app/nmtrain)
#
# Four experiments, each one HDF5 run file. Every experiment runs on a budget of 2 threads
# (one thread per run, two runs at a time), so the files are the same on any machine with
# the same BLAS kernel; a few minutes on two cores. Snapshots at the first and the last
# step only and no resume checkpoints, to keep the files small. Each file is written under a
# temporary name and moved into place when its experiment has finished.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
nmtrain=${1:-$here/../build/release/app/nmtrain}
[ -x "$nmtrain" ] || { echo "nmtrain not found at $nmtrain; build it first (cmake --build --preset release)" >&2; exit 1; }

run() {
  local out=$1
  shift
  local tmp="$here/.${out}.tmp"
  rm -f "$tmp"
  echo "== $out" >&2
  "$nmtrain" --threads 2 --snapshot-every 0 --checkpoints false --out "$tmp" --overwrite "$@"
  mv "$tmp" "$here/$out"
}

# Fashion-MNIST MLP 784-128-128-10 (fc2 sparse), 2000 steps: the STE family at 2:4.
run mlp_2to4_ste_srste_sste.h5 --name mlp --mlp-hidden 128,128 --steps 2000 --eval-every 200 --nm 2:4 --recipes ste,srste,sste --seeds 1,2

# The same MLP at 1:16: SR-STE against mask decay (exponential) and structure decay (stepwise).
run mlp_1to16_srste_mdgf_sdgf.h5 --name mlp --mlp-hidden 128,128 --steps 2000 --eval-every 200 --nm 1:16 --recipes srste,mdgf-exp,sdgf-stepwise --seeds 1,2

# Tiny char-level GPT on the fortunes corpus (2 layers, width 48; fc1/fc2 sparse), 800 steps.
run gpt_2to4_dense_srste_sste.h5 --name gpt --model gpt --gpt-width 48 --context 64 --batch 16 --steps 800 \
  --eval-every 100 --nm 2:4 --recipes dense,srste,sste --seeds 1

# Vision transformer on Fashion-MNIST (7×7 patches, class token, 2 blocks of width 64;
# fc1/fc2 sparse), 1000 steps: dense against SR-STE and S-STE at 2:4.
run vit_2to4_dense_srste_sste.h5 --name vit --model vit --steps 1000 --eval-every 100 --nm 2:4 \
  --recipes dense,srste,sste --seeds 1
