"""The packaging files: fast static checks, and the slow .deb install test.

The slow test builds nothing unless asked: it installs the newest
packaging/.work/calmline_*.deb (build_linux.sh) in a clean Debian root. Run it with

    CALMLINE_SLOW=1 python -m pytest tests/test_packaging.py -m slow

as root (debootstrap, chroot, mount), with espeak-ng for the generated call.
"""
from __future__ import annotations

import ast
import os
import plistlib
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"
SPEC = PACKAGING / "calmline.spec"
WORK = PACKAGING / ".work"
SHELL_SCRIPTS = [PACKAGING / "build_linux.sh", PACKAGING / "install_test.sh",
                 PACKAGING / "macos" / "build_dmg.sh", PACKAGING / "deb" / "postrm"]


def _spec_literal(name: str):
    tree = ast.parse(SPEC.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return node.value
    raise AssertionError(f"{name} is not assigned in the spec")


def _literal_set(name: str) -> set[str]:
    return set(ast.literal_eval(_spec_literal(name)))


def test_spec_keeps_only_the_qt_modules_the_app_imports():
    keep = _literal_set("QT_KEEP")
    used = set()
    for folder in ("ui", "monitor", "models"):
        for path in (ROOT / folder).glob("*.py"):
            used |= set(re.findall(r"PySide6\.(Qt\w+)", path.read_text(encoding="utf-8")))
    assert used <= keep, f"the app imports Qt modules the spec excludes: {used - keep}"
    assert keep == {"QtCore", "QtGui", "QtWidgets"}


def test_spec_excludes_every_other_installed_qt_module():
    pyside = pytest.importorskip("PySide6")
    installed = {p.name.split(".")[0] for p in Path(pyside.__file__).parent.iterdir()
                 if re.match(r"Qt\w+\.(abi3\.so|pyd|.*\.so)$", p.name)}
    excluded = _literal_set("QT_ALL") - _literal_set("QT_KEEP")
    missing = installed - _literal_set("QT_KEEP") - excluded
    assert not missing, f"PySide6 has Qt modules the spec neither keeps nor excludes: {missing}"


def test_spec_excludes_jit_compilers_and_checks_the_bundle_for_them():
    text = SPEC.read_text(encoding="utf-8")
    for name in ('"numba"', '"llvmlite"', '"librosa"'):
        assert name in text
    assert "JIT compilers must not ship" in text
    assert "libportaudio" in text  # never bundled on Linux


def test_runtime_dependencies_have_no_jit_compiler():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = [re.split(r"[<>=!~;\[ ]", d, maxsplit=1)[0].lower() for d in project["dependencies"]]
    assert not {"numba", "llvmlite", "librosa"} & set(names)
    assert "pyside6-essentials" in names and "pyside6" not in names


def test_spec_is_valid_python():
    compile(SPEC.read_text(encoding="utf-8"), str(SPEC), "exec")


def test_desktop_entry():
    path = PACKAGING / "deb" / "calmline.desktop"
    entries = dict(line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines()
                   if "=" in line and not line.startswith("#"))
    assert entries["Type"] == "Application"
    assert entries["Exec"].split()[0] == "calmline"
    assert entries["Icon"] == "calmline"
    validate = shutil.which("desktop-file-validate")
    if validate:
        result = subprocess.run([validate, str(path)], capture_output=True, text=True)
        assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_control_template_declares_the_runtime_dependencies():
    text = (PACKAGING / "deb" / "control.in").read_text(encoding="utf-8")
    fields = dict(re.findall(r"^([A-Za-z-]+): (.*)$", text, flags=re.M))
    for name in ("Package", "Version", "Architecture", "Maintainer", "Depends", "Description",
                 "Installed-Size"):
        assert name in fields, name
    assert fields["Package"] == "calmline"
    depends = [d.strip() for d in fields["Depends"].split(",")]
    assert "libportaudio2" in depends  # loaded with ctypes: dpkg-shlibdeps cannot see it
    assert "@SHLIBS_DEPENDS@" in depends
    assert "espeak-ng" not in fields["Depends"]  # the demo call ships pre-rendered
    assert fields["Suggests"] == "ffmpeg"  # reads M4A, WMA, AMR and WebM recordings


def test_postrm_removes_the_install_folder_on_remove_and_purge():
    text = (PACKAGING / "deb" / "postrm").read_text(encoding="utf-8")
    assert re.search(r"remove\|purge\)\s+if \[ -d /opt/calmline \]", text)
    assert "rm -rf /opt/calmline" in text
    assert os.access(PACKAGING / "deb" / "postrm", os.X_OK)
    assert subprocess.run(["sh", "-n", str(PACKAGING / "deb" / "postrm")]).returncode == 0


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: p.name)
def test_shell_scripts_parse_and_are_shellcheck_clean(script):
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed")
    result = subprocess.run([shellcheck, str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_wix_source_is_well_formed_per_machine_with_policy_properties():
    ns = {"w": "http://wixtoolset.org/schemas/v4/wxs"}
    root = ET.parse(PACKAGING / "windows" / "calmline.wxs").getroot()
    package = root.find("w:Package", ns)
    assert package is not None and package.get("Scope") == "perMachine"
    properties = {p.get("Id") for p in package.findall("w:Property", ns)}
    assert {"RECORDING_ALLOWED", "RETENTION_DAYS", "START_AT_LOGIN"} <= properties
    assert package.find(".//w:Shortcut", ns) is not None
    assert package.find("w:MajorUpgrade", ns) is not None
    assert any(f.get("Name") == "policy.toml" for f in package.iter(f"{{{ns['w']}}}RemoveFile"))
    assert "policy.toml" in (PACKAGING / "windows" / "write_policy.ps1").read_text(encoding="utf-8")


def test_macos_bundle_asks_for_the_microphone():
    text = SPEC.read_text(encoding="utf-8")
    assert '"NSMicrophoneUsageDescription"' in text
    entitlements = plistlib.loads((PACKAGING / "macos" / "entitlements.plist").read_bytes())
    assert entitlements["com.apple.security.device.audio-input"] is True


def test_workflow_builds_all_three_and_smoke_tests():
    text = (ROOT / ".github" / "workflows" / "packages.yml").read_text(encoding="utf-8")
    for needle in ("build_linux.sh", "install_test.sh", "build.ps1", "build_dmg.sh",
                   "windows-", "macos-", "debian:bookworm"):
        assert needle in text, needle
    yamllint = shutil.which("yamllint")
    if yamllint:
        config = ("{extends: default, rules: {line-length: {max: 110}, document-start: disable, "
                  "truthy: {check-keys: false}}}")
        result = subprocess.run([yamllint, "-d", config, str(ROOT / ".github" / "workflows")],
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stdout


def _newest_deb() -> Path | None:
    debs = sorted(WORK.glob("calmline_*.deb"), key=lambda p: p.stat().st_mtime)
    return debs[-1] if debs else None


def test_built_deb_contents():
    deb = _newest_deb()
    if deb is None or shutil.which("dpkg-deb") is None:
        pytest.skip("no .deb built (bash packaging/build_linux.sh)")
    fields = subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True, text=True,
                            check=True).stdout
    assert re.search(r"^Depends: libportaudio2, .*libxcb-cursor0", fields, flags=re.M)
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True,
                             check=True).stdout
    assert "./opt/calmline/calmline" in listing
    assert re.search(r"\./usr/bin/calmline -> /opt/calmline/calmline", listing)
    assert "./usr/share/applications/calmline.desktop" in listing
    assert "calmline_data/demo_call.flac" in listing
    assert not re.search(r"numba|llvmlite|libportaudio", listing)
    assert not re.search(r"PySide6/Qt(Network|Qml|Quick|Svg|Pdf|Sql|OpenGL)\.", listing)
    assert deb.stat().st_size <= 150e6


@pytest.mark.slow
def test_deb_installs_runs_and_purges_in_a_clean_debian(tmp_path):
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("needs root on Linux (debootstrap, chroot)")
    if shutil.which("debootstrap") is None:
        pytest.skip("debootstrap is not installed (apt-get install debootstrap)")
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng renders the generated call")
    deb = _newest_deb()
    if deb is None:
        subprocess.run(["bash", str(PACKAGING / "build_linux.sh")], check=True)
        deb = _newest_deb()
    from tests.scripted_calls import write_interruptions_call

    call = write_interruptions_call(tmp_path)["call"]
    result = subprocess.run(["bash", str(PACKAGING / "install_test.sh"), str(deb), str(call)],
                            capture_output=True, text=True, timeout=1800,
                            env={**os.environ, "EXPECT": "interruption"})
    print(result.stdout[-6000:])
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "install_test: all checks passed" in result.stdout
    assert "PASS: calmline analyze found: interruption" in result.stdout
    assert "PASS: purge removed" in result.stdout


def test_runtime_hook_looks_for_the_demo_call_the_build_bundles() -> None:
    # The build converts the rendered demo call to FLAC before freezing; the hook must
    # name that file, or an installed app asks for espeak-ng.
    here = Path(__file__).resolve().parent.parent / "packaging"
    build = (here / "build_linux.sh").read_text()
    hook = (here / "hooks" / "rthook_calmline.py").read_text()
    bundled = re.search(r'CALMLINE_DEMO_WAV="\$WORK/data/(demo_call\.\w+)"', build).group(1)
    assert f'"{bundled}"' in hook


def test_bundled_app_ends_quietly_on_ctrl_c_at_any_moment_of_its_start(tmp_path) -> None:
    app = WORK / "dist" / "calmline" / "calmline"
    if not app.is_file():
        pytest.skip("no bundle built (bash packaging/build_linux.sh)")
    import soundfile as sf
    # Half an hour of silence keeps the app busy analysing well past the last Ctrl-C.
    call = tmp_path / "long_call.wav"
    with sf.SoundFile(call, "w", samplerate=8000, channels=1, subtype="PCM_16") as f:
        for _ in range(30):
            f.write(np.zeros(60 * 8000, np.int16))
    # Ctrl-C can still hit PyInstaller's own bootstrap, in about 12-16 ms after the start
    # here, which prints its own report; from the runtime hook on, every moment is covered.
    # Ctrl-C inside numpy's own initialisation reaches us as numpy's ImportError (numpy
    # drops the interrupt), which the command reports in one line as an internal error.
    for delay_s in (0.1, 0.15, 0.2, 0.3, 0.5, 1.0):
        app_process = subprocess.Popen([str(app), "analyze", str(call)], stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True)
        time.sleep(delay_s)
        app_process.send_signal(signal.SIGINT)
        out, err = app_process.communicate(timeout=60)
        assert err.count("\n") == 1 and err.startswith("calmline: "), (delay_s, err)
        assert app_process.returncode == 130 or "ImportError" in err, (delay_s, err)
