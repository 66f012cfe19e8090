#!/usr/bin/env bash
# The test command (README): headless Qt, real media from scripts/fetch_test_media.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export QT_QPA_PLATFORM=offscreen
export FOLEY_MEDIA_DIR="${FOLEY_MEDIA_DIR:-$HOME/.cache/foley-desktop/media}"
exec python -m pytest "$@"
