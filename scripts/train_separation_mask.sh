#!/usr/bin/env bash
# Reproduce resources/models/separation/masknet-v1/masknet.onnx (the `masknet` separation
# backend's mask-refinement network) on a CPU, one thread (~15 min data, ~25 min training):
#   pip install .[train]          # torch (CPU wheel)
#   scripts/train_separation_mask.sh
# Needs the test media (scripts/fetch_test_media.sh: minetest-data, scratch, sonic-pi-samples
# for backgrounds, pocketsphinx-testdata's cards/ phrases for validation) and, from Debian,
# espeak-ng, festival and festvox-kallpc16k (installed below if missing) and klettres-data
# (downloaded and unpacked, not installed). Deterministic for a given SEED.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"
SEED="${SEED:-7}"
WORK="${WORK:-runs/separation_mask}"
STEPS="${STEPS:-2200}"
export OMP_NUM_THREADS=1
if ! command -v espeak-ng >/dev/null || ! command -v text2wave >/dev/null \
   || [ ! -d /usr/share/festival/voices/english/kal_diphone ]; then
  apt-get install -y espeak-ng festival festvox-kallpc16k
fi
scripts/fetch_test_media.sh minetest-data scratch sonic-pi-samples pocketsphinx-testdata >/dev/null
"$PY" -m foley_desktop.train.separation_mask speech --work "$WORK" --seed "$SEED"
"$PY" -m foley_desktop.train.separation_mask data --work "$WORK" --seed "$SEED" --clips 1600
"$PY" -m foley_desktop.train.separation_mask train --work "$WORK" --seed "$SEED" --steps "$STEPS"
"$PY" -m foley_desktop.train.separation_mask export --work "$WORK" \
  --out resources/models/separation/masknet-v1/masknet.onnx
cp "$WORK/train_summary.json" "$WORK/train_backgrounds.txt" resources/models/separation/masknet-v1/
echo "now: python scripts/eval_separation.py --backends rnnoise,default,masknet"
