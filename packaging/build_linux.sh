#!/usr/bin/env bash
# Build the Linux x86_64 folder app: dist/foley-desktop/ (run from anywhere).
#
#   packaging/build_linux.sh [--cpu] [--tar] [--clean]
#     --cpu    leave out ONNX Runtime's CUDA/TensorRT plug-ins (FOLEY_BUNDLE_GPU=0)
#     --tar    also write dist/foley-desktop-VERSION-linux-x86_64[-cpu].tar.gz
#     --clean  discard PyInstaller's cache in build/pyinstaller first
# PYTHON selects the interpreter whose site-packages are bundled (default: the active venv's, else
# python3); it needs the app's dependencies and pyinstaller installed.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${PYTHON:-}" ]; then
    if [ -n "${VIRTUAL_ENV:-}" ]; then PYTHON="$VIRTUAL_ENV/bin/python"; else PYTHON=python3; fi
fi
tar=0 clean=()
export FOLEY_BUNDLE_GPU=${FOLEY_BUNDLE_GPU:-1}
for arg in "$@"; do
    case $arg in
        --cpu) FOLEY_BUNDLE_GPU=0 ;;
        --tar) tar=1 ;;
        --clean) clean=(--clean) ;;
        *) echo "usage: $0 [--cpu] [--tar] [--clean]" >&2; exit 2 ;;
    esac
done
[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] || {
    echo "build_linux.sh builds on Linux x86_64 only (see packaging/README.md)" >&2; exit 2; }
"$PYTHON" -m PyInstaller --version >/dev/null 2>&1 || {
    echo "PyInstaller missing: $PYTHON -m pip install pyinstaller" >&2; exit 2; }
"$PYTHON" -c "import ctypes.util, sys; sys.exit(ctypes.util.find_library('portaudio') is None)" || \
    echo "WARNING: libportaudio2 not installed: the bundle will have no audio playback" >&2

cd "$repo"
start=$(date +%s)
"$PYTHON" -m PyInstaller --noconfirm --log-level WARN "${clean[@]}" \
    --distpath "$repo/dist" --workpath "$repo/build/pyinstaller" packaging/foley-desktop.spec

out=$repo/dist/foley-desktop
# Beside the binary: what an editor (or install.sh) needs to put it in the menu.
install -m 755 packaging/launcher.sh "$out/foley-desktop.sh"
install -m 755 packaging/install.sh "$out/install.sh"
install -m 644 packaging/foley-desktop.desktop "$out/foley-desktop.desktop"
install -m 644 resources/icons/foley-desktop.svg "$out/foley-desktop.svg"

version=$("$out/foley-desktop" --version | awk '{print $2}')
echo "built $out (foley-desktop $version, GPU providers: $([ "$FOLEY_BUNDLE_GPU" = 0 ] && echo no || echo yes))"
echo "size: $(du -sm "$out" | cut -f1) MB in $(find "$out" -type f | wc -l) files;" \
     "build took $(( $(date +%s) - start )) s"
if [ "$tar" = 1 ]; then
    suffix=$([ "$FOLEY_BUNDLE_GPU" = 0 ] && echo -cpu || true)
    archive=$repo/dist/foley-desktop-$version-linux-x86_64$suffix.tar.gz
    tar -C "$repo/dist" -czf "$archive" foley-desktop
    echo "archive: $archive ($(du -m "$archive" | cut -f1) MB)"
fi
