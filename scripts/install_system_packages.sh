#!/usr/bin/env bash
# Debian/Ubuntu system packages the app and its tests need.
#   libportaudio2              sounddevice playback
#   libegl1 libgl1 libxkbcommon0 libfontconfig1 libdbus-1-3   Qt (also offscreen)
#   libxcb-*, libxkbcommon-x11-0   Qt's xcb platform on a real X display
#   xvfb                        screenshots of the real window in tests/docs
#   ffmpeg                      ffprobe: the independent reader the probe tests compare with
#   desktop-file-utils          validates the bundle's .desktop entry in the tests
#   jackd2 libasound2-plugins   a real-time dummy audio device (JACK) behind ALSA, so the
#                               playback tests run the real PortAudio stream without a sound card
#   melt mediainfo blender      the NLE hand-off read back by real tools: melt renders the exported
#                               Kdenlive project, mediainfo reads the BWF stamps, headless Blender
#                               runs the VSE add-on (about 25 s to install each, 2 s to start)
set -euo pipefail
PKGS=(libportaudio2 libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3
      libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-xkb1
      libxcb-shape0 libxcb-randr0 xvfb xauth ffmpeg desktop-file-utils
      jackd2 libasound2-plugins melt mediainfo blender)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  # jackd2 asks about real-time priority on install: answer no, without a prompt
  echo "jackd2 jackd/tweak_rt_limits boolean false" | $SUDO debconf-set-selections 2>/dev/null || true
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
