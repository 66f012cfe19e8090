#!/usr/bin/env bash
# foley-tiny that follows spotting markers (1.6.0): a fine-tune of the shipped 1.5.0 weights with
# an event track input (engine/events.py), on a CPU, one thread:
#   pip install .[train]
#   scripts/train_marker_model.sh
# Steps (each resumes / skips what is done): fetch data -> render paired clips (the same sets as
# scripts/train_default_model.sh) -> recover 1.5.0's torch weights from its FP32 graphs and check
# they reproduce them -> fine-tune with markers -> export a candidate package -> evaluate it on
# the held-out clips with and without markers and without video, and on real footage.
# Deterministic by SEED (batches, noise, dropout, markers and their augmentation at step k come
# from PCG64 generators seeded with [seed, k, ...]); the same torch version, thread count and CPU
# instruction set give the same weights (model card, "A second full run").
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"
SEED="${SEED:-1234}"
MAX_MINUTES="${MAX_MINUTES:-120}"
BASE_COMMIT="${BASE_COMMIT:-935ed55}"              # the commit whose package is 1.5.0
RUN="${RUN:-runs/markers}"
OUT="${OUT:-runs/foley-tiny-markers}"              # candidate; copied to resources/ by hand
mkdir -p runs
scripts/fetch_training_data.sh
"$PY" -m foley_desktop.train.dataset --seed "$SEED" --val-clips 60
"$PY" -c "from pathlib import Path; from foley_desktop.train.export import prepare_text; prepare_text(Path('runs/export'))"
# 1.5.0's weights as a checkpoint; fails unless torch reproduces the package's graphs.
# (the package from git: resources/ holds a later version since 1.6.0 shipped)
if [ ! -f runs/recovered-1.5.0/ckpt.pt ]; then
  rm -rf runs/base-1.5.0 && mkdir -p runs/base-1.5.0
  git archive "$BASE_COMMIT" resources/models/foley-tiny | tar -x -C runs/base-1.5.0
  "$PY" -m foley_desktop.train.recover --package runs/base-1.5.0/resources/models/foley-tiny \
    --out runs/recovered-1.5.0/ckpt.pt --step 7600
fi
# Common settings: 1.5.0's last phase (training times at the noise end, onset loss weights),
# a lower learning rate for the trained weights (1e-4) and 1e-3 for the new event encoder,
# whose last layer starts at zero (step 0 computes exactly 1.5.0). Markers: each clip's true
# event times, jittered (4 ms), 5 % missed, a stray marker in 10 % of rows, 30 % of rows
# without markers (channel 1 = 0) so picture-only generation keeps training.
COMMON=(--run "$RUN" --init runs/recovered-1.5.0/ckpt.pt --events --seed "$SEED" --lr 1e-4
        --event-lr 1e-3 --warmup 100 --t-loc -1.2 --onset-weight 3 --threads 1
        --max-minutes "$MAX_MINUTES")
# The shipped 1.6.0: steps 0-1000 of a 3000-step cosine (the EMA of step 1000). Longer runs
# followed markers better but lost picture-only timing (model card, "Following spotting
# markers"); they are the two commented phases below.
"$PY" -m foley_desktop.train.train "${COMMON[@]}" --steps 3000 --stop-at 1000
# Tried, not shipped: on to step 1200, then resumed with the cosine recomputed for 2400 steps
# and, in 25 % of the rows with markers, the picture of another clip (--marker-mismatch).
# Held-out onset F1 with markers 0.977, real footage 0.90, but without markers 0.878 / 0.892
# (1.5.0: 0.923 / 0.940).
#   "$PY" -m foley_desktop.train.train "${COMMON[@]}" --steps 3000 --stop-at 1200
#   "$PY" -m foley_desktop.train.train "${COMMON[@]}" --steps 2400 --marker-mismatch 0.25
# --marker-guidance: with markers, the unconditional rows of the guided batch go without them, so
# the prompt guidance (4) amplifies the markers too; at weight 1 the model followed them only
# loosely (model card, "Following spotting markers").
# --visual-guidance-with-markers 1: with markers, no extra pull towards the picture, whose
# motion on real footage is not where the sounds are (a metal prompt came out as footsteps).
"$PY" -m foley_desktop.train.export --ckpt "$RUN/ckpt.pt" --out "$OUT" --version 1.6.0 \
  --marker-guidance --visual-guidance-with-markers 1
mkdir -p runs/eval-markers
"$PY" -m foley_desktop.train.evaluate --package "$OUT" --out runs/eval-markers/markers --markers
"$PY" -m foley_desktop.train.evaluate --package "$OUT" --out runs/eval-markers/none
"$PY" -m foley_desktop.train.evaluate --package "$OUT" --out runs/eval-markers/markers-no-video \
  --markers --no-video
"$PY" -m foley_desktop.train.real_markers --package "$OUT" --out runs/eval-markers/real.json
# the annotated real clips of issue #23 (scripts/fetch_real_footage.sh fetches them)
"$PY" -m foley_desktop.train.real_markers --package "$OUT" --annotated \
  --out runs/eval-markers/real-annotated.json
echo "candidate package in $OUT; figures in runs/eval-markers/"
