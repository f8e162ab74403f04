#!/usr/bin/env bash
# Install test of the CalmLine .deb in a clean Debian bookworm root (debootstrap):
# apt-get resolves the declared dependencies from the archive, the frozen app runs
# with no Python, no compiler and no checkout, and a purge leaves nothing behind.
#
#   sudo bash packaging/install_test.sh [DEB [WAV]]
#
# DEB defaults to the newest packaging/.work/calmline_*.deb (build_linux.sh);
# WAV is a generated call to analyse (default: the demo call, rendered with
# espeak-ng through PYTHON, else the repo's .venv, else build_linux.sh's venv). EXPECT lists the event
# kinds the analysis must report (default "interruption"). MIRROR picks the
# Debian mirror. The base system is cached in packaging/.work/cache/, so only the
# first run downloads it. Needs root, debootstrap and mount.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
WORK="$HERE/.work"
SUITE=bookworm
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
SECURITY_MIRROR="${SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
BASE_TAR="$WORK/cache/$SUITE-minbase-rootfs.tar"
EXPECT="${EXPECT:-interruption}"
RUN_DIR="$WORK/install-test"
ROOTFS="$RUN_DIR/rootfs"

log() { printf 'install_test: %s\n' "$*"; }
die() { printf 'install_test: FAIL: %b\n' "$*" >&2; exit 1; }
pass() { printf 'install_test: PASS: %s\n' "$*"; }

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, mount)"
command -v debootstrap >/dev/null || die "debootstrap is missing (apt-get install debootstrap)"

DEB="${1:-}"
if [ -z "$DEB" ]; then
  DEB="$(find "$WORK" -maxdepth 1 -name 'calmline_*.deb' -printf '%T@ %p\n' 2>/dev/null |
         sort -rn | head -1 | cut -d' ' -f2-)"
fi
if [ -z "$DEB" ] || [ ! -f "$DEB" ]; then
  die "no .deb (run packaging/build_linux.sh first, or pass one)"
fi
WAV="${2:-}"

cleanup() {
  local m
  for m in proc dev/pts dev; do
    if mountpoint -q "$ROOTFS/$m" 2>/dev/null; then umount -l "$ROOTFS/$m" || true; fi
  done
  if [ "${KEEP_ROOTFS:-0}" != 1 ]; then rm -rf "$RUN_DIR"; fi
}
trap cleanup EXIT

base_system() {
  if [ -f "$BASE_TAR" ]; then
    log "using the cached base system $BASE_TAR"
    return
  fi
  local tmp="$WORK/cache/debootstrap.tmp"
  mkdir -p "$WORK/cache"
  rm -rf "$tmp"
  log "debootstrap $SUITE (minbase) from $MIRROR: first run, this takes a few minutes"
  debootstrap --variant=minbase "$SUITE" "$tmp" "$MIRROR" >"$WORK/cache/debootstrap.log" 2>&1 ||
    die "debootstrap failed (see $WORK/cache/debootstrap.log)"
  rm -rf "$tmp/var/cache/apt/archives/"*.deb
  tar -C "$tmp" -cf "$BASE_TAR.part" . && mv "$BASE_TAR.part" "$BASE_TAR"
  rm -rf "$tmp"
}

in_root() { chroot "$ROOTFS" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }
as_user() {
  chroot --userspec=agent:agent "$ROOTFS" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/home/agent \
    LANG=C.UTF-8 "$@"
}

prepare_root() {
  rm -rf "$RUN_DIR"
  mkdir -p "$ROOTFS"
  tar -C "$ROOTFS" -xf "$BASE_TAR"
  mount -t proc proc "$ROOTFS/proc"
  mount --bind /dev "$ROOTFS/dev"
  cp -L /etc/resolv.conf "$ROOTFS/etc/resolv.conf" 2>/dev/null || true
  cat >"$ROOTFS/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
EOF
  in_root useradd -m -s /bin/sh agent
}

render_wav() {
  local out="$1" py="${PYTHON:-}"
  if [ -z "$py" ]; then
    for py in "$ROOT/.venv/bin/python" "$WORK/venv/bin/python" python3; do
      if command -v "$py" >/dev/null 2>&1; then break; fi
    done
  fi
  (cd "$ROOT" && "$py" -c 'import sys; from pathlib import Path
from ui.demo_call import write_demo_call
write_demo_call(Path(sys.argv[1]))' "$out") || die "cannot render a call (pass a WAV as the 2nd argument)"
}

main() {
  base_system
  prepare_root
  local tmp_in="$ROOTFS/tmp/calmline-test"
  mkdir -p "$tmp_in"
  cp "$DEB" "$tmp_in/"
  if [ -n "$WAV" ]; then cp "$WAV" "$tmp_in/call.wav"; else render_wav "$tmp_in/call.wav"; fi
  chmod -R a+rX "$tmp_in"
  local deb_in
  deb_in="/tmp/calmline-test/$(basename "$DEB")"

  # The clean root has no development tools: nothing the frozen app could lean on.
  local tool
  for tool in python3 python gcc cc espeak-ng; do
    if in_root sh -c "command -v $tool" >/dev/null 2>&1; then die "the clean root has $tool"; fi
  done
  pass "clean $SUITE root without python3, gcc, espeak-ng"

  log "apt-get install $deb_in"
  in_root apt-get update -qq >"$RUN_DIR/apt-update.log" 2>&1 || die "apt-get update failed:\n$(tail -5 "$RUN_DIR/apt-update.log")"
  in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$deb_in" \
    >"$RUN_DIR/apt-install.log" 2>&1 || die "apt-get install failed:\n$(tail -20 "$RUN_DIR/apt-install.log")"
  pass "apt-get install resolved the declared dependencies from the archive"
  if in_root sh -c 'command -v python3' >/dev/null 2>&1; then die "installing calmline pulled in python3"; fi

  [ -x "$ROOTFS/opt/calmline/calmline" ] || die "/opt/calmline/calmline is missing"
  [ -L "$ROOTFS/usr/bin/calmline" ] || [ -x "$ROOTFS/usr/bin/calmline" ] || die "/usr/bin/calmline is missing"
  [ -f "$ROOTFS/usr/share/applications/calmline.desktop" ] || die "desktop entry missing"
  [ -f "$ROOTFS/usr/share/icons/hicolor/scalable/apps/calmline.svg" ] || die "icon missing"
  if find "$ROOTFS/opt/calmline" -iname '*portaudio*' | grep -q .; then die "PortAudio is bundled"; fi
  pass "files in place: /opt/calmline, /usr/bin/calmline, desktop entry, icon"

  # Every ELF file of the bundle resolves against the bundle and the declared packages.
  local missing
  missing="$(in_root sh -c 'cd /opt/calmline/_internal && find /opt/calmline -type f \( -name "*.so*" -o -name calmline \) -print0 |
    xargs -0 -n 20 env LD_LIBRARY_PATH=/opt/calmline/_internal:/opt/calmline/_internal/PySide6/Qt/lib ldd 2>/dev/null |
    grep "not found" | sort -u' || true)"
  [ -z "$missing" ] || die "libraries not found after install (undeclared dependencies?):\n$missing"
  pass "every bundled ELF file resolves its libraries (ldd)"

  local out status
  out="$(as_user calmline --version 2>&1)" || die "calmline --version exited $?: $out"
  grep -q '^calmline [0-9]' <<<"$out" || die "unexpected --version output: $out"
  pass "calmline --version: $out"

  if as_user calmline --help 2>&1 | grep -q -- '--diagnostics'; then
    set +e; out="$(as_user calmline --diagnostics 2>&1)"; status=$?; set -e
    [ "$status" -eq 0 ] || die "calmline --diagnostics exited $status:\n$out"
    pass "calmline --diagnostics exited 0 ($(wc -l <<<"$out") lines)"
    printf '%s\n' "$out" | sed 's/^/    /' | head -40
  else
    log "SKIP: calmline --diagnostics (this build has no such option yet)"
  fi

  set +e; out="$(as_user calmline devices 2>&1)"; status=$?; set -e
  if grep -qi 'portaudio library not found' <<<"$out"; then die "the frozen app did not find the system PortAudio:\n$out"; fi
  [ "$status" -eq 0 ] || die "calmline devices exited $status:\n$out"
  pass "calmline devices loads the system PortAudio (exit 0, no capture devices in a chroot)"

  set +e; out="$(as_user calmline analyze /tmp/calmline-test/call.wav 2>&1)"; status=$?; set -e
  [ "$status" -eq 0 ] || die "calmline analyze exited $status:\n$out"
  local kind
  for kind in $EXPECT; do
    grep -q "$kind" <<<"$out" || die "the analysis does not report '$kind':\n$out"
  done
  pass "calmline analyze found: $EXPECT"
  printf '%s\n' "$out" | sed 's/^/    /'

  set +e; out="$(as_user calmline demo 2>&1)"; status=$?; set -e
  if [ "$status" -eq 0 ] && grep -q interruption <<<"$out"; then
    pass "calmline demo uses the bundled demo call (no espeak-ng)"
  else
    die "calmline demo failed without espeak-ng (exit $status): $out"
  fi

  log "apt-get purge calmline"
  in_root env DEBIAN_FRONTEND=noninteractive apt-get purge -y calmline >"$RUN_DIR/apt-purge.log" 2>&1 ||
    die "apt-get purge failed:\n$(tail -20 "$RUN_DIR/apt-purge.log")"
  local left=()
  local path
  for path in /opt/calmline /usr/bin/calmline /usr/share/applications/calmline.desktop \
              /usr/share/icons/hicolor/scalable/apps/calmline.svg /usr/share/doc/calmline; do
    if [ -e "$ROOTFS$path" ] || [ -L "$ROOTFS$path" ]; then left+=("$path"); fi
  done
  [ ${#left[@]} -eq 0 ] || die "left behind after purge: ${left[*]}"
  if in_root dpkg-query -W -f="\${Status}" calmline 2>/dev/null | grep -q installed; then
    die "dpkg still lists calmline"
  fi
  pass "purge removed /opt/calmline, /usr/bin/calmline, the desktop entry and the icon"
  log "all checks passed"
}

main "$@"
