#!/usr/bin/env bash
# CI: build the Linux bundle from scratch and smoke-test the built binary.
#   packaging/ci_bundle.sh            (called from .ci/run after the tests)
# Uses PYTHON (default: the active venv's python, else python3) with the app's dependencies;
# installs PyInstaller into it when missing. Exit status: the build's, else the smoke test's.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
# The Python whose environment has the app installed: the active venv's, else python3.
if [ -z "${PYTHON:-}" ]; then
    if [ -n "${VIRTUAL_ENV:-}" ]; then PYTHON="$VIRTUAL_ENV/bin/python"; else PYTHON=python3; fi
fi
export PYTHON
t0=$(date +%s)
if ! "$PYTHON" -m PyInstaller --version >/dev/null 2>&1; then
    echo "== installing PyInstaller"
    "$PYTHON" -m pip install --quiet "pyinstaller>=6.10"
fi
echo "== build (clean)"
rm -rf "$repo/build/pyinstaller" "$repo/dist/foley-desktop"
"$repo/packaging/build_linux.sh" --clean
t1=$(date +%s)
echo "== smoke test of the built bundle"
status=0
"$repo/packaging/smoke_test.sh" "$repo/dist/foley-desktop" || status=$?
t2=$(date +%s)
echo "== bundle CI: build $((t1 - t0)) s, smoke test $((t2 - t1)) s, total $((t2 - t0)) s"
exit "$status"
