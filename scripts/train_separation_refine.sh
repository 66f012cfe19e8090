#!/usr/bin/env bash
# Reproduce resources/models/separation/dfn-refine-v1/refine.onnx (the `dfn-refine` separation
# backend's network) on a CPU, one thread per process (data ~12 min with 2 processes,
# training ~10-25 min on a shared 2-core machine):
#   pip install .[train]          # torch (CPU wheel)
#   scripts/train_separation_refine.sh
# Needs the Debian speech (scripts/fetch_speech_corpus.py: festvox-ru, fillets-ng-data-cs/-nl,
# flight-of-the-amazon-queen) and the test media (scripts/fetch_test_media.sh: minetest-data,
# scratch, sonic-pi-samples for backgrounds). Deterministic for a given SEED; every stage
# resumes where it stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"
SEED="${SEED:-11}"
WORK="${WORK:-runs/separation_refine_v3}"
CLIPS="${CLIPS:-1400}"
STEPS="${STEPS:-2000}"
export OMP_NUM_THREADS=1
"$PY" scripts/fetch_speech_corpus.py
scripts/fetch_test_media.sh minetest-data scratch sonic-pi-samples pocketsphinx-testdata >/dev/null
"$PY" scripts/train_separation_refine.py data --work "$WORK" --seed "$SEED" --split dev --clips 160
"$PY" scripts/train_separation_refine.py data --work "$WORK" --seed "$SEED" --clips "$CLIPS" \
  --shard 0 --shards 2 &
"$PY" scripts/train_separation_refine.py data --work "$WORK" --seed "$SEED" --clips "$CLIPS" \
  --shard 1 --shards 2
wait
"$PY" scripts/train_separation_refine.py train --work "$WORK" --seed "$SEED" --clips "$CLIPS" \
  --steps "$STEPS" --batch 8 --mode attenuate
"$PY" scripts/train_separation_refine.py export --work "$WORK"
OUT=resources/models/separation/dfn-refine-v1
cp "$WORK/train_summary.json" "$OUT/"
cp "$WORK/data-train/backgrounds.txt" "$OUT/train_backgrounds.txt"
cp "$WORK/data-dev/backgrounds.txt" "$OUT/dev_backgrounds.txt"
echo "now: python scripts/eval_separation.py --backends default,dfn-refine"
