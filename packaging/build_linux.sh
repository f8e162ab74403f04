#!/usr/bin/env bash
# Build the frozen CalmLine app (PyInstaller, one folder) and its .deb, then check
# the budgets: bundle <= 250 MB unpacked, .deb <= 150 MB, window <= 3 s.
#
#   bash packaging/build_linux.sh            # everything under packaging/.work/
#   bash packaging/build_linux.sh --budgets  # measure the last build again
#
# Environment: PYTHON (default python3, 3.11 with a shared libpython),
# SKIP_WINDOW_CHECK=1 (no X server test), BUDGET_STRICT=0 (report, don't fail).
# Build this on the Debian release the .deb is for (bookworm): the dependency
# list is derived from the build machine's packages (dpkg-shlibdeps).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
WORK="$HERE/.work"
VENV="$WORK/venv"
PYTHON="${PYTHON:-python3}"
PYINSTALLER_VERSION="6.22.3"
BUNDLE_BUDGET_MB=250
DEB_BUDGET_MB=150
WINDOW_BUDGET_S=3.0
BUDGET_STRICT="${BUDGET_STRICT:-1}"

log() { printf 'build_linux: %s\n' "$*"; }
die() { printf 'build_linux: error: %b\n' "$*" >&2; exit 1; }

need_tools() {
  local missing=() tool
  for tool in espeak-ng dpkg-deb dpkg-shlibdeps xvfb-run xdotool strip; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    die "missing tools: ${missing[*]} (apt-get install espeak-ng dpkg-dev xvfb xdotool binutils)"
  fi
}

make_venv() {
  # A dedicated venv: only the runtime dependencies and PyInstaller, so nothing
  # else (numba, librosa, test tools) can end up in the bundle.
  if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
  fi
  "$VENV/bin/python" -m pip install -q "pyinstaller==$PYINSTALLER_VERSION"
  # Not editable: the bundle is built from an ordinary install of the checkout.
  "$VENV/bin/python" -m pip install -q --force-reinstall --no-deps "$ROOT"
  "$VENV/bin/python" -m pip install -q "$ROOT"
  if "$VENV/bin/python" -m pip show -q numba llvmlite >/dev/null 2>&1; then
    die "numba/llvmlite are in the build venv; they must not be runtime dependencies"
  fi
}

render_assets() {
  mkdir -p "$WORK/data"
  local wav="$WORK/data/demo_call.wav"
  log "rendering the demo call (espeak-ng)"
  (cd "$WORK" && "$VENV/bin/python" - "$wav" <<'PY'
import sys
from pathlib import Path

import soundfile as sf
from ui.demo_call import write_demo_call

wav = write_demo_call(Path(sys.argv[1]))
x, sr = sf.read(wav, dtype="int16")
sf.write(wav.with_suffix(".flac"), x, sr, subtype="PCM_16")
PY
  )
  rm -f "$wav"
  "$VENV/bin/python" "$HERE/render_icon.py" "$WORK/icons" 48 128 256
}

freeze() {
  log "freezing with PyInstaller $PYINSTALLER_VERSION"
  rm -rf "$WORK/dist" "$WORK/build"
  (cd "$WORK" && CALMLINE_DEMO_WAV="$WORK/data/demo_call.flac" \
    "$VENV/bin/pyinstaller" --noconfirm --log-level WARN \
    --distpath "$WORK/dist" --workpath "$WORK/build" "$HERE/calmline.spec")
  local internal="$WORK/dist/calmline/_internal"
  # Strip only what PyInstaller's own Python brought (the interpreter and its
  # extension modules) and ICU: the wheels' patchelf-ed libraries break if stripped.
  find "$internal" -maxdepth 1 -name 'libpython3*.so*' -type f -exec strip --strip-unneeded {} +
  find "$internal/python3."*/lib-dynload -name '*.so' -type f -exec strip --strip-unneeded {} + 2>/dev/null || true
  find "$internal/PySide6/Qt/lib" -name 'libicu*.so*' -type f -exec strip --strip-unneeded {} +
}

check_bundle() {
  local bundle="$WORK/dist/calmline" internal="$WORK/dist/calmline/_internal" bad
  bad="$(find "$bundle" \( -iname '*numba*' -o -iname '*llvmlite*' \) -print | head -5)"
  [ -z "$bad" ] || die "JIT compiler files in the bundle: $bad"
  bad="$(find "$bundle" -iname '*portaudio*' -print | head -5)"
  [ -z "$bad" ] || die "PortAudio is bundled (the .deb uses the system's libportaudio2): $bad"
  bad="$(find "$internal/PySide6" -maxdepth 1 -name 'Qt*.so' ! -name 'QtCore.*' ! -name 'QtGui.*' \
           ! -name 'QtWidgets.*' -print | head -5)"
  [ -z "$bad" ] || die "unused Qt modules are bundled: $bad"
  # Every ELF file must resolve its libraries from the bundle or the system.
  local missing
  missing="$(find "$bundle" -type f \( -name '*.so*' -o -name calmline \) -print0 |
    xargs -0 -n 20 env LD_LIBRARY_PATH="$internal:$internal/PySide6/Qt/lib" ldd 2>/dev/null |
    grep 'not found' | sort -u || true)"
  [ -z "$missing" ] || die "unresolved libraries in the bundle:\n$missing"
  log "bundle checks passed (no numba/llvmlite, no PortAudio, Qt: Core/Gui/Widgets only)"
}

shlib_depends() {
  # dpkg-shlibdeps on every ELF file; bundle folders are private library paths.
  local internal="$WORK/dist/calmline/_internal" tmp out
  tmp="$WORK/shlibdeps"
  rm -rf "$tmp" && mkdir -p "$tmp/debian"
  printf 'Source: calmline\n\nPackage: calmline\nArchitecture: any\n' >"$tmp/debian/control"
  local -a dirs files
  mapfile -t dirs < <(find "$internal" -type d -printf '-l%p\n')
  mapfile -t files < <(find "$WORK/dist/calmline" -type f \( -name '*.so*' -o -name calmline \))
  out="$(cd "$tmp" && dpkg-shlibdeps -O --ignore-missing-info "${dirs[@]}" "${files[@]}" 2>/dev/null)"
  printf '%s\n' "${out#shlibs:Depends=}"
}

build_deb() {
  local version arch stage deb depends size
  version="$("$VENV/bin/python" -c 'from importlib.metadata import version; print(version("calmline"))')"
  arch="$(dpkg --print-architecture)"
  stage="$WORK/deb-root"
  rm -rf "$stage" && mkdir -p "$stage/DEBIAN" "$stage/opt" "$stage/usr/bin" \
    "$stage/usr/share/applications" "$stage/usr/share/icons/hicolor/scalable/apps" \
    "$stage/usr/share/doc/calmline"
  cp -a "$WORK/dist/calmline" "$stage/opt/calmline"
  ln -s /opt/calmline/calmline "$stage/usr/bin/calmline"
  install -m 644 "$HERE/deb/calmline.desktop" "$stage/usr/share/applications/calmline.desktop"
  install -m 644 "$HERE/icons/calmline.svg" "$stage/usr/share/icons/hicolor/scalable/apps/calmline.svg"
  local px
  for px in 48 128 256; do
    install -D -m 644 "$WORK/icons/calmline-$px.png" \
      "$stage/usr/share/icons/hicolor/${px}x${px}/apps/calmline.png"
  done
  install -m 644 "$HERE/deb/copyright" "$stage/usr/share/doc/calmline/copyright"
  install -m 755 "$HERE/deb/postrm" "$stage/DEBIAN/postrm"
  # control.in names libportaudio2 itself: it is loaded at run time (ctypes), so
  # dpkg-shlibdeps cannot see it.
  depends="$(shlib_depends)"
  size="$(du -sk --exclude=DEBIAN "$stage" | cut -f1)"
  sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@INSTALLED_SIZE@/$size/" \
      -e "s/@SHLIBS_DEPENDS@/$depends/" "$HERE/deb/control.in" >"$stage/DEBIAN/control"
  (cd "$stage" && find opt usr -type f -print0 | sort -z | xargs -0 md5sum >DEBIAN/md5sums)
  chmod -R u+rwX,go+rX,go-w "$stage"
  deb="$WORK/calmline_${version}_${arch}.deb"
  rm -f "$WORK"/calmline_*.deb
  log "packing $(basename "$deb") (xz)"
  dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
  DEB="$deb"
}

measure_window() {
  # Launch to first visible window titled CalmLine, under Xvfb with Qt's xcb plugin,
  # in a fresh home (no settings, so no first-run data) replaying the demo call.
  local home pid start now elapsed=""
  home="$(mktemp -d)"
  start="$(date +%s.%N)"
  HOME="$home" XDG_CONFIG_HOME="$home/.config" XDG_DATA_HOME="$home/.local/share" \
    XDG_CACHE_HOME="$home/.cache" QT_QPA_PLATFORM=xcb \
    "$WORK/dist/calmline/calmline" --replay "$WORK/data/demo_call.flac" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 200); do
    if xdotool search --onlyvisible --name '^CalmLine' >/dev/null 2>&1; then
      now="$(date +%s.%N)"
      elapsed="$(awk -v a="$start" -v b="$now" 'BEGIN { printf "%.2f", b - a }')"
      break
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$home"
  printf '%s\n' "${elapsed:-none}"
}

budgets() {
  local bundle_bytes deb_bytes bundle_mb deb_mb t0 t1 version_s window_s window_runs="" over=0
  bundle_bytes="$(du -sb "$WORK/dist/calmline" | cut -f1)"
  deb_bytes="$(stat -c %s "$DEB")"
  bundle_mb="$(awk -v b="$bundle_bytes" 'BEGIN { printf "%.1f", b / 1e6 }')"
  deb_mb="$(awk -v b="$deb_bytes" 'BEGIN { printf "%.1f", b / 1e6 }')"
  t0="$(date +%s.%N)"
  "$WORK/dist/calmline/calmline" --version >/dev/null
  t1="$(date +%s.%N)"
  version_s="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')"
  if [ "${SKIP_WINDOW_CHECK:-0}" = 1 ]; then
    window_s="skipped"
  else
    window_runs="$(xvfb-run -a -s '-screen 0 1280x800x24' bash "$HERE/build_linux.sh" --measure-window)"
    if grep -q none <<<"$window_runs"; then
      window_s=none
    else
      window_s="$(tr ' ' '\n' <<<"$window_runs" | sort -n | sed -n 2p)"
    fi
  fi
  echo "================ CalmLine Linux budgets ================"
  printf '  bundle (unpacked)   %8s MB   budget %s MB\n' "$bundle_mb" "$BUNDLE_BUDGET_MB"
  printf '  .deb                %8s MB   budget %s MB\n' "$deb_mb" "$DEB_BUDGET_MB"
  printf '  --version           %8s s\n' "$version_s"
  printf '  launch to window    %8s s    budget %s s (Xvfb, xcb; median of: %s)\n' \
    "$window_s" "$WINDOW_BUDGET_S" "$window_runs"
  printf '  numba/llvmlite      %8s\n' "absent"
  echo "========================================================"
  awk -v v="$bundle_mb" -v b="$BUNDLE_BUDGET_MB" 'BEGIN { exit !(v > b) }' && over=1
  awk -v v="$deb_mb" -v b="$DEB_BUDGET_MB" 'BEGIN { exit !(v > b) }' && over=1
  if [ "$window_s" = none ]; then
    over=1
  elif [ "$window_s" != skipped ]; then
    awk -v v="$window_s" -v b="$WINDOW_BUDGET_S" 'BEGIN { exit !(v > b) }' && over=1
  fi
  if [ "$over" = 1 ]; then
    [ "$BUDGET_STRICT" = 1 ] && die "over budget (see above)"
    log "warning: over budget (BUDGET_STRICT=0, not failing)"
  fi
}

smoke() {
  local out
  out="$("$WORK/dist/calmline/calmline" analyze "$WORK/data/demo_call.flac")"
  grep -q 'interruption' <<<"$out" || die "frozen analyze found no interruption:\n$out"
  log "frozen analyze of the demo call: ok"
}

main() {
  case "${1:-}" in
    --measure-window)  # three launches: the first is cold, the median is reported
      local runs=() i
      for i in 1 2 3; do runs+=("$(measure_window)"); : "$i"; done
      printf '%s\n' "${runs[*]}"; return ;;
    --budgets)  # only the budgets of the last build
      DEB="$(find "$WORK" -maxdepth 1 -name 'calmline_*.deb' | head -1)"
      [ -n "$DEB" ] || die "no .deb yet: run without --budgets first"
      budgets; return ;;
    "") ;;
    *) die "unknown argument '$1' (none, --budgets or --measure-window)" ;;
  esac
  need_tools
  mkdir -p "$WORK"
  make_venv
  render_assets
  freeze
  check_bundle
  smoke
  build_deb
  budgets
  log "built $DEB"
}

main "$@"
