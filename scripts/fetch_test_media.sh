#!/usr/bin/env bash
# Fetch the real recorded media listed in shared/MEDIA.md from Debian packages, without
# installing them: `apt-get download` + `dpkg-deb -x`. Cached: a package already unpacked in
# $FOLEY_MEDIA_DIR is not fetched again. Prints the media folder on its last line.
set -euo pipefail
MEDIA_DIR="${FOLEY_MEDIA_DIR:-$HOME/.cache/foley-desktop/media}"
PACKAGES=("$@")
if [ ${#PACKAGES[@]} -eq 0 ]; then
  PACKAGES=(forensics-samples-files python3-hug-doc pocketsphinx-testdata minetest-data scratch sonic-pi-samples etw-data)
fi
mkdir -p "$MEDIA_DIR/debs"
need_update=1
for pkg in "${PACKAGES[@]}"; do
  [ -f "$MEDIA_DIR/.done-$pkg" ] && continue
  if ! ls "$MEDIA_DIR"/debs/"${pkg}"_*.deb >/dev/null 2>&1; then
    if [ $need_update -eq 1 ] && [ "$(id -u)" = 0 ]; then apt-get update -qq || true; need_update=0; fi
    (cd "$MEDIA_DIR/debs" && apt-get download -qq "$pkg")
  fi
  dpkg-deb -x "$MEDIA_DIR"/debs/"${pkg}"_*.deb "$MEDIA_DIR/root"
  touch "$MEDIA_DIR/.done-$pkg"
done
echo "$MEDIA_DIR/root"
