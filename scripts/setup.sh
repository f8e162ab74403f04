#!/usr/bin/env bash
# Set up CalmLine on a Debian/Ubuntu machine: system packages, a venv in .venv,
# and the project with its test extra. Safe to run again; it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PACKAGES=(
  libportaudio2 libsndfile1            # audio I/O (sounddevice, soundfile)
  espeak-ng sox libsox-fmt-all ffmpeg  # the demo call, generated test audio, loudness reference
  pulseaudio pulseaudio-utils libasound2-plugins alsa-utils  # live-capture tests on a private server
  pocketsphinx-testdata                # real read speech with transcripts for accuracy tests
  asterisk-core-sounds-en-wav asterisk-core-sounds-en  # ~500 real recorded prompts and their texts
  xvfb libegl1 libgl1 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3  # Qt offscreen and under Xvfb
  libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0
  libxcb-shape0 libxcb-xinerama0 libxcb-xkb1                           # Qt's X11 (xcb) platform
  openbox trayer xdotool x11-utils     # real-desktop tests: window manager, system tray, focus checks
)

missing=()
for pkg in "${SYSTEM_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ! python3 -c "import venv, ensurepip" 2>/dev/null; then missing+=(python3-venv); fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.calmline-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing CalmLine and its test tools into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[test]'
  touch "$stamp"
fi
