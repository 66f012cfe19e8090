#!/usr/bin/env bash
# Start-up benchmark of the BUILT bundle (prints figures; not a test):
#   packaging/startup_bench.sh [BUNDLE_DIR] [RUNS]      (default dist/foley-desktop, 5 runs)
# Reports the median wall time of `--version`, `probe --json` on the demo clip, and the time
# from launch until the main window, with the demo clip loaded, is mapped on an X server:
# under xvfb-run, polling `xwininfo` for a window whose title names the clip (the window
# shows "<clip name> — Foley Desktop" once the clip is open), so it needs no hook in the app.
# When the app prints "startup: ... ms" lines (FOLEY_DESKTOP_STARTUP_TIMING=1), they are shown.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bundle=$(readlink -f "${1:-$repo/dist/foley-desktop}")
runs=${2:-5}
bin=$bundle/foley-desktop
demo=$(ls "$bundle"/_internal/resources/demo/*.mp4 | head -n 1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export FOLEY_DESKTOP_DATA=$work/data FOLEY_DESKTOP_CACHE=$work/cache
export FOLEY_DESKTOP_SETTINGS=$work/settings.ini
now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

time_cmd() { # time_cmd CMD...: median seconds over $runs runs
    for _ in $(seq "$runs"); do
        local t0; t0=$(now)
        "$@" >/dev/null 2>&1
        echo "$(now) - $t0" | bc
    done | median
}

echo "bundle: $bundle ($(du -sm "$bundle" | cut -f1) MB); median of $runs runs"
echo "--version:            $(time_cmd "$bin" --version) s"
echo "probe demo clip:      $(time_cmd "$bin" probe --json "$demo") s"

# The window: run inside one X server, once per run.
cat >"$work/gui_once.sh" <<'EOF'
#!/usr/bin/env bash
# gui_once.sh BIN CLIP: seconds from launch until a window titled with CLIP's name is mapped
bin=$1 clip=$2 name=$(basename "${2%.*}")
t0=$(date +%s.%N)
QT_QPA_PLATFORM=xcb FOLEY_DESKTOP_STARTUP_TIMING=1 "$bin" "$clip" >"$3" 2>&1 &
pid=$!
for _ in $(seq 3000); do   # 60 s at most
    if xwininfo -root -tree 2>/dev/null | grep -F "$name" | grep -q "Foley Desktop"; then
        echo "$(date +%s.%N) - $t0" | bc
        kill "$pid"; wait "$pid" 2>/dev/null
        exit 0
    fi
    kill -0 "$pid" 2>/dev/null || { echo "app exited before its window appeared" >&2; exit 1; }
    sleep 0.02
done
kill "$pid"; echo "no window after 60 s" >&2; exit 1
EOF
chmod +x "$work/gui_once.sh"
gui=$(for i in $(seq "$runs"); do
          xvfb-run -a -s "-screen 0 1920x1080x24" "$work/gui_once.sh" "$bin" "$demo" "$work/gui$i.log"
      done | median)
echo "window with clip:     $gui s (launch -> mapped window titled with the clip, Xvfb)"
grep -h "^startup:" "$work"/gui*.log 2>/dev/null | tail -n 3 || true
