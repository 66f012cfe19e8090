#!/usr/bin/env bash
# Reproduce resources/models/separation/fusion-net-v2/fusion.onnx (the default separation
# backend's fusion network) on a CPU, one thread per process (data ~15 min with 2 processes,
# training ~20 min on the shared 2-core machine):
#   pip install .[train]          # torch (CPU wheel)
#   scripts/train_separation_fusion.sh
# Needs the Debian speech (scripts/fetch_speech_corpus.py) and the test media
# (scripts/fetch_test_media.sh: minetest-data, scratch, sonic-pi-samples for backgrounds).
# Deterministic for a given SEED; every stage resumes where it stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"
SEED="${SEED:-29}"
WORK="${WORK:-runs/fusion-v2}"
CLIPS="${CLIPS:-1400}"
STEPS="${STEPS:-2400}"
export OMP_NUM_THREADS=1
"$PY" scripts/fetch_speech_corpus.py
scripts/fetch_test_media.sh minetest-data scratch sonic-pi-samples pocketsphinx-testdata >/dev/null
T=scripts/train_separation_fusion.py
"$PY" $T data --work "$WORK" --seed "$SEED" --split dev --n 100
"$PY" $T data --work "$WORK" --seed "$SEED" --n "$CLIPS" --shard 0 --shards 2 &
"$PY" $T data --work "$WORK" --seed "$SEED" --n "$CLIPS" --shard 1 --shards 2
wait
# The export takes the best dev loss (best.pt): step 2,100 of 2,400 in the shipped run.
"$PY" $T train --work "$WORK" --seed "$SEED" --steps "$STEPS" --eval-every 150 --ch 16 \
  --time-dils 1,2,4 --fullband 0.6 \
  | tee "$WORK/train_log.txt"
OUT=resources/models/separation/fusion-net-v2
"$PY" $T export --work "$WORK" --out "$OUT/fusion.onnx"
cp "$WORK/config.json" "$WORK/train_log.txt" "$OUT/"
cp "$WORK/data-train/backgrounds.txt" "$OUT/train_backgrounds.txt"
cp "$WORK/data-dev/backgrounds.txt" "$OUT/dev_backgrounds.txt"
echo "now: python scripts/eval_separation.py --speech tuning --backends fused,default"
