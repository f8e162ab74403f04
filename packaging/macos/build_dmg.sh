#!/usr/bin/env bash
# Build CalmLine.app (PyInstaller) and a DMG (hdiutil) on macOS, then smoke-test the
# app inside the DMG: --version and analyze of the demo call.
#
#   CALMLINE_DEMO_WAV=demo_call.flac bash packaging/macos/build_dmg.sh
#
# CALMLINE_DEMO_WAV: the pre-rendered demo call (the Linux job renders it with
# espeak-ng). CALMLINE_CODESIGN_IDENTITY: a Developer ID to sign with (default:
# ad-hoc). Runs on a macOS runner only (see packaging/README.md).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PACKAGING="$(dirname "$HERE")"
ROOT="$(dirname "$PACKAGING")"
WORK="$PACKAGING/.work"
VENV="$WORK/venv-mac"
PYTHON="${PYTHON:-python3}"

die() { printf 'build_dmg: error: %s\n' "$*" >&2; exit 1; }

[ "$(uname -s)" = Darwin ] || die "this builds on macOS only"
[ -f "${CALMLINE_DEMO_WAV:-}" ] || die "set CALMLINE_DEMO_WAV to the pre-rendered demo call"
CALMLINE_DEMO_WAV="$(cd "$(dirname "$CALMLINE_DEMO_WAV")" && pwd)/$(basename "$CALMLINE_DEMO_WAV")"
export CALMLINE_DEMO_WAV

mkdir -p "$WORK"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q "pyinstaller==6.22.3" pillow
"$VENV/bin/python" -m pip install -q "$ROOT"
if "$VENV/bin/python" -m pip show -q numba >/dev/null 2>&1; then
  die "numba is in the build venv; it must not be a runtime dependency"
fi
VERSION="$("$VENV/bin/python" -c 'from importlib.metadata import version; print(version("calmline"))')"
export CALMLINE_VERSION="$VERSION"

"$VENV/bin/python" "$PACKAGING/render_icon.py" "$WORK/icons" 1024
export CALMLINE_ICON="$WORK/icons/calmline-1024.png"   # PyInstaller makes the .icns (Pillow)

rm -rf "$WORK/dist" "$WORK/build"
(cd "$WORK" && "$VENV/bin/pyinstaller" --noconfirm --log-level WARN \
  --distpath "$WORK/dist" --workpath "$WORK/build" "$PACKAGING/calmline.spec")

APP="$WORK/dist/CalmLine.app"
[ -d "$APP" ] || die "no CalmLine.app"
usage="$(/usr/libexec/PlistBuddy -c 'Print :NSMicrophoneUsageDescription' "$APP/Contents/Info.plist")" ||
  die "Info.plist has no NSMicrophoneUsageDescription"
echo "NSMicrophoneUsageDescription: $usage"
if find "$APP" \( -iname '*numba*' -o -iname '*llvmlite*' \) | grep -q .; then die "JIT compiler in the bundle"; fi
find "$APP" -iname 'libportaudio*.dylib' | grep -q . || die "no PortAudio in the bundle"
codesign --verify --deep --strict "$APP" || die "the app's signature does not verify"

DMG="$WORK/CalmLine-$VERSION.dmg"
STAGE="$WORK/dmg-stage"
rm -rf "$STAGE" "$DMG" && mkdir -p "$STAGE"
cp -R "$APP" "$STAGE/"
ln -s /Applications "$STAGE/Applications"
hdiutil create -volname CalmLine -srcfolder "$STAGE" -fs HFS+ -format UDZO -ov "$DMG"
du -sh "$APP" "$DMG"

# Smoke test from the mounted DMG, as a user would run it.
MNT="$(mktemp -d)"
hdiutil attach -nobrowse -readonly -mountpoint "$MNT" "$DMG" >/dev/null
trap 'hdiutil detach "$MNT" >/dev/null 2>&1 || true' EXIT
"$MNT/CalmLine.app/Contents/MacOS/calmline" --version
out="$("$MNT/CalmLine.app/Contents/MacOS/calmline" analyze "$CALMLINE_DEMO_WAV")"
printf '%s\n' "$out"
grep -q interruption <<<"$out" || die "analyze found no interruption"
echo "build_dmg: $DMG passed the smoke test"
