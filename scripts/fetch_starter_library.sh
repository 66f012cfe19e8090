#!/usr/bin/env bash
# The starter library: recorded sound effects from Debian packages whose licences allow
# redistribution (minetest-data, scratch, sonic-pi-samples, etw-data; the packages foley-tiny
# already credits). Fetches and unpacks them with scripts/fetch_test_media.sh (apt-get download
# + dpkg-deb -x, cached, nothing installed), then copies them with their Debian copyright files
# and a credits table into the user data folder and indexes them:
#   foley-desktop library add --starter
# Extra arguments go to that command (e.g. --db PATH, --json).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
MEDIA_ROOT="$("$HERE/fetch_test_media.sh" minetest-data scratch sonic-pi-samples etw-data | tail -n 1)"
export FOLEY_MEDIA_DIR="$(dirname "$MEDIA_ROOT")"
PY="${PYTHON:-python3}"
[ -x "$HERE/../.venv/bin/python" ] && PY="$HERE/../.venv/bin/python"
exec "$PY" -m foley_desktop library add --starter "$@"
