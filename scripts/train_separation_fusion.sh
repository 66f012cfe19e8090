#!/usr/bin/env bash
# Reproduce resources/models/separation/fusion-net-v1/fusion.onnx (the default separation
# backend's fusion network) on a CPU, one thread per process (data ~15 min with 2 processes,
# training ~13 min on the shared 2-core machine):
#   pip install .[train]          # torch (CPU wheel)
#   scripts/train_separation_fusion.sh
# Needs the Debian speech (scripts/fetch_speech_corpus.py) and the test media
# (scripts/fetch_test_media.sh: minetest-data, scratch, sonic-pi-samples for backgrounds).
# Deterministic for a given SEED; every stage resumes where it stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"
SEED="${SEED:-29}"
WORK="${WORK:-runs/fusion-line}"
CLIPS="${CLIPS:-1400}"
STEPS="${STEPS:-1800}"
export OMP_NUM_THREADS=1
"$PY" scripts/fetch_speech_corpus.py
scripts/fetch_test_media.sh minetest-data scratch sonic-pi-samples pocketsphinx-testdata >/dev/null
T=scripts/train_separation_fusion.py
"$PY" $T data --work "$WORK" --seed "$SEED" --split dev --n 100
"$PY" $T data --work "$WORK" --seed "$SEED" --n "$CLIPS" --shard 0 --shards 2 &
"$PY" $T data --work "$WORK" --seed "$SEED" --n "$CLIPS" --shard 1 --shards 2
wait
"$PY" $T train --work "$WORK" --seed "$SEED" --steps "$STEPS" --eval-every 150 --ch 16 --ctx 2 \
  | tee "$WORK/train_log.txt"
OUT=resources/models/separation/fusion-net-v1
"$PY" $T export --work "$WORK" --out "$OUT/fusion.onnx"
cp "$WORK/config.json" "$WORK/train_log.txt" "$OUT/"
cp "$WORK/data-train/backgrounds.txt" "$OUT/train_backgrounds.txt"
cp "$WORK/data-dev/backgrounds.txt" "$OUT/dev_backgrounds.txt"
echo "now: python scripts/eval_separation.py --speech tuning --backends fused,default"
