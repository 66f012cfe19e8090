#!/usr/bin/env bash
# Smoke-test the BUILT bundle, never the source tree:
#   packaging/smoke_test.sh [BUNDLE_DIR]          (default: dist/foley-desktop)
# It runs the frozen binary from an empty folder with its own data/cache/settings folders and
# no Python variables, so nothing can come from the checkout or a virtual environment.
#
# Optional inputs:
#   FOLEY_SMOKE_CLIP    a real video clip to probe/separate (default: the test media cache's
#                       movie-hello.mp4 when present, else only the bundle's demo clip)
#   FOLEY_SMOKE_PYTHON  a Python with this project and `onnx` installed (default: $PYTHON, else python3):
#                       it writes a small analytic model package into the *user* model folder,
#                       to check that the frozen app lists and runs a model it does not ship.
# Prints one PASS/FAIL/SKIP/WARN line per check; exit status 1 if any check failed.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bundle=$(readlink -f "${1:-$repo/dist/foley-desktop}")
bin=$bundle/foley-desktop
internal=$bundle/_internal
[ -x "$bin" ] || { echo "no built bundle at $bundle (run packaging/build_linux.sh)" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
unset FOLEY_DESKTOP_RESOURCES FOLEY_RNNOISE_LIB PYTHONPATH PYTHONHOME VIRTUAL_ENV
export FOLEY_DESKTOP_DATA=$work/data FOLEY_DESKTOP_CACHE=$work/cache
export FOLEY_DESKTOP_SETTINGS=$work/settings.ini QT_QPA_PLATFORM=offscreen

fails=0
pass() { echo "PASS  $*"; }
fail() { echo "FAIL  $*"; fails=$((fails + 1)); }
skip() { echo "SKIP  $*"; }
warn() { echo "WARN  $*"; }
run() { # run NAME CMD...: the binary's output goes to $work/NAME.log; returns its status
    local name=$1; shift
    "$@" >"$work/$name.log" 2>&1
}
tail_of() { tail -n 5 "$work/$1.log" | sed 's/^/      /'; }

# A 48 kHz WAV of exactly N samples, read back by ffprobe (or, without it, Python's wave).
check_wav() { # check_wav FILE SAMPLES -> prints "rate channels samples"; status 0 if right
    local f=$1 want=$2 got
    if command -v ffprobe >/dev/null; then
        got=$(ffprobe -v error -select_streams a:0 -show_entries stream=sample_rate,channels,duration_ts \
              -of csv=p=0 "$f" | tr ',' ' ')
    else
        got=$(python3 -c "import wave,sys; w=wave.open(sys.argv[1]); print(w.getframerate(), w.getnchannels(), w.getnframes())" "$f")
    fi
    echo "$got"
    set -- $got
    [ "${1:-}" = 48000 ] && { [ -z "$want" ] || [ "${3:-}" = "$want" ]; }
}

# 1. It starts and knows its version.
if run version "$bin" --version && grep -Eq '^foley-desktop [0-9]' "$work/version.log"; then
    pass "--version: $(cat "$work/version.log")"
else
    fail "--version"; tail_of version
fi

# 2. Every bundled library resolves its dependencies (in the bundle or the base system).
# The CUDA/TensorRT plug-ins are exempt: they need the CUDA runtime a GPU user installs.
missing=$(find "$internal" -type f \( -name '*.so' -o -name '*.so.*' \) \
              ! -name 'libonnxruntime_providers_cuda.so' ! -name 'libonnxruntime_providers_tensorrt.so' \
              -print0 | LD_LIBRARY_PATH=$internal xargs -0 -n 50 ldd 2>/dev/null |
          awk '/^\// {f=$1} /not found/ {print f, $1}' | sort -u)
if [ -z "$missing" ]; then pass "ldd: every bundled library resolves"
else fail "ldd: unresolved libraries:"; echo "$missing" | head -20 | sed 's/^/      /'; fi

# 3. probe on real clips: the shipped demo clip and an outside one.
demo=$(ls "$internal"/resources/demo/*.mp4 2>/dev/null | head -n 1)
clip=${FOLEY_SMOKE_CLIP:-$HOME/.cache/foley-desktop/media/root/usr/share/forensics-samples/original-files/movie2/movie-hello.mp4}
[ -f "$clip" ] || clip=
for c in $demo $clip; do
    if run probe "$bin" probe --json "$c" &&
       python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['duration_samples'] > 0 and d['video']" "$work/probe.log"; then
        pass "probe $(basename "$c"): $(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(d['duration_samples'], 'samples,', d['video']['width'], 'x', d['video']['height'], d['video']['codec'])" "$work/probe.log")"
    else
        fail "probe $c"; tail_of probe
    fi
done
[ -n "$demo" ] || warn "the bundle carries no demo clip (resources/demo was empty at build time)"
[ -n "$clip" ] || skip "probe on an outside clip: set FOLEY_SMOKE_CLIP"

# 4. A model package the bundle does not ship, added to the user's model folder.
py=${FOLEY_SMOKE_PYTHON:-${PYTHON:-python3}}
if [ -z "$demo" ]; then
    skip "user model package: no demo clip in the bundle to generate for"
elif ! "$py" -c "import onnx, foley_desktop.engine.testpkg" 2>/dev/null; then
    skip "user model package: $py cannot build a test package (needs this project and onnx)"
elif ! "$py" -c "from foley_desktop.engine import testpkg; testpkg.build('$FOLEY_DESKTOP_DATA/models/test-analytic')" >"$work/testpkg.log" 2>&1; then
    fail "user model package: could not build the test package"; tail_of testpkg
else
    if run models "$bin" models --json &&
       python3 - "$work/models.log" "$internal" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["search_path"][0].startswith(sys.argv[2]), d["search_path"]  # shipped: in the bundle
assert any(p["name"] == "test-analytic" and p["source"] == "user" for p in d["packages"]), d
EOF
    then pass "models: lists the user's test-analytic package beside the shipped folder"
    else fail "models --json"; tail_of models; fi
    # 1 s .. 3.5 s of the demo clip: 2.5 s = 120000 samples at 48 kHz.
    if run gen_user "$bin" generate "$demo" --prompt "footsteps on gravel" --model test-analytic \
           --seed 1 --start 1 --end 3.5 -o "$work/user.wav" && got=$(check_wav "$work/user.wav" 120000); then
        pass "generate with the user's package: 48 kHz WAV of 120000 samples ($got)"
    else
        fail "generate with the user's package (got: ${got:-no file})"; tail_of gen_user
    fi
fi

# 5. The shipped model, headless.
if [ -f "$internal/resources/models/foley-tiny/manifest.json" ] && [ -n "$demo" ]; then
    if run gen_tiny "$bin" generate "$demo" --prompt "footsteps on gravel" --seed 7 \
           -o "$work/tiny.wav" && got=$(check_wav "$work/tiny.wav" ""); then
        pass "generate with the shipped foley-tiny: 48 kHz WAV ($got) — $(head -n 1 "$work/gen_tiny.log")"
    else
        fail "generate with the shipped foley-tiny"; tail_of gen_tiny
    fi
else
    skip "generate with the shipped model: no model package is shipped yet" \
         "(resources/models/foley-tiny was absent when the bundle was built)"
fi

# 6. The default separator (RNNoise + Silero VAD, both inside the bundle).
sep_in=${clip:-$demo}
if [ -z "$sep_in" ]; then
    skip "separate: no clip"
elif run separate "$bin" separate "$sep_in" -o "$work/sep" --quiet &&
     check_wav "$work/sep/dialogue.wav" "" >/dev/null && check_wav "$work/sep/background.wav" "" >/dev/null; then
    pass "separate (default backend) $(basename "$sep_in"): $(tail -n 1 "$work/separate.log")"
else
    fail "separate $(basename "$sep_in")"; tail_of separate
fi

# 7. A developer tool the bundle leaves out (quantize needs `onnx`) must refuse in one line.
run tool "$bin" quantize "$work/no-such-package" --mode fp16
rc=$?
if grep -q "Traceback" "$work/tool.log"; then
    fail "quantize in the bundle ends in a traceback (exit $rc), not a one-line refusal"; tail_of tool
elif [ "$rc" = 2 ]; then
    pass "quantize (left out of the bundle) refuses: $(tail -n 1 "$work/tool.log")"
else
    fail "quantize: exit status $rc"; tail_of tool
fi

# 8. The window: opens offscreen with the clip, loads the bundled PortAudio, quits cleanly.
# FOLEY_DESKTOP_QUIT_AFTER_MS asks the GUI to quit by itself (see packaging/README.md).
if [ -n "$demo" ]; then
    FOLEY_DESKTOP_QUIT_AFTER_MS=3000 LD_DEBUG=files LD_DEBUG_OUTPUT=$work/lddebug \
        timeout 30 "$bin" "$demo" >"$work/gui.log" 2>&1
    rc=$?
    if grep -q "Traceback" "$work/gui.log"; then
        fail "GUI: Python traceback (exit $rc)"; tail_of gui
    elif [ "$rc" = 0 ]; then
        pass "GUI: opened $(basename "$demo") offscreen and quit cleanly (exit 0)"
    elif [ "$rc" = 124 ]; then
        fail "GUI: ran 30 s offscreen but did not quit after FOLEY_DESKTOP_QUIT_AFTER_MS"; tail_of gui
    else
        fail "GUI: exit status $rc"; tail_of gui
    fi
    # grep the files directly: `cat | grep -q` under pipefail fails when grep stops early and
    # cat gets SIGPIPE (it did once the loader's log grew past a pipe buffer).
    if grep -qs "file=$internal/libportaudio.so.2 .*generating link map" "$work"/lddebug.*; then
        pass "GUI: PortAudio loaded from the bundle ($internal/libportaudio.so.2)"
    elif grep -qs "file=.*libportaudio.*generating link map" "$work"/lddebug.*; then
        fail "GUI: PortAudio loaded from outside the bundle"
    else
        fail "GUI: PortAudio was never loaded (sounddevice could not find it?)"
    fi
else
    skip "GUI: no demo clip in the bundle"
fi

if [ "$fails" = 0 ]; then echo "smoke test of $bundle: all checks passed"; exit 0; fi
echo "smoke test of $bundle: $fails check(s) FAILED"; exit 1
