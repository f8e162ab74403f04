"""Real-desktop checks on X11: the tray icon in a real system tray, and cues that never steal focus.

Offscreen tests can only check flags (``WA_ShowWithoutActivating``,
``WindowDoesNotAcceptFocus``); here a real X server (Xvfb), a real window
manager (openbox) and a real system-tray host (trayer) decide.

The pytest process's QApplication is offscreen (tests/conftest.py) and a
QApplication cannot change platform, so each Qt scenario runs in a child
Python on the ``xcb`` platform and prints its findings as JSON, which the
tests assert. The desktop is skipped, with the reason, when a tool is missing.
"""
from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOLS = {"Xvfb": "xvfb", "openbox": "openbox", "trayer": "trayer", "xdotool": "xdotool",
         "xprop": "x11-utils"}
"""Programs the desktop needs, and the Debian package of each (scripts/setup.sh installs them)."""

SCENARIO_TIMEOUT_S = 90.0

# The Qt side, run as ``python -c SCENARIO MODE`` on the X display.
SCENARIO = r'''
import json, subprocess, sys, time

from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLineEdit, QSystemTrayIcon, QVBoxLayout, QWidget

app = QApplication(sys.argv[:1])
app.setApplicationDisplayName("CalmLine")  # as the app does; Qt adds it to window titles
# Another program's window in real life; here it ends with the name, so Qt leaves its title be.
SOFTPHONE = "Softphone \N{EM DASH} CalmLine"
out = {"platform": app.platformName()}


def wait_until(pred, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        QApplication.processEvents()
        if pred():
            return True
        QTest.qWait(50)
    return bool(pred())


def xdo(*args):
    done = subprocess.run(["xdotool", *args], capture_output=True, text=True, timeout=20)
    return done.stdout.strip()


def focused_name():
    return xdo("getwindowfocus", "getwindowname")


def tray_scenario():
    from ui.tray import IndicatorState, TrayController

    out["qt_tray_available"] = wait_until(QSystemTrayIcon.isSystemTrayAvailable, 15.0)
    tray = TrayController()
    out["controller_available"] = tray.available
    icon = tray._icon
    if icon is None:
        return
    out["icon_visible"] = icon.isVisible()
    # Embedded in the tray host, the icon has a real place on screen.
    out["embedded"] = wait_until(lambda: icon.geometry().width() > 0, 10.0)
    # The tray host may still move or resize the icon just after docking it.
    seen = []
    wait_until(lambda: seen.append(icon.geometry()) or seen[-10:] == [seen[-1]] * 10, 10.0)
    geo = icon.geometry()
    out["geometry"] = [geo.x(), geo.y(), geo.width(), geo.height()]
    out["context_menu_is_the_menu"] = icon.contextMenu() is tray.menu
    out["actions"] = [a.text() for a in tray.menu.actions() if not a.isSeparator()]
    out["tooltip"] = icon.toolTip()

    # The icon changes with the state: its pixels in the tray change.
    screen = QApplication.primaryScreen()

    def grab():
        now = icon.geometry()
        image = screen.grabWindow(0, now.x(), now.y(), now.width(), now.height()).toImage()
        return bytes(image.constBits())

    def painted():
        image = screen.grabWindow(0, geo.x(), geo.y(), geo.width(), geo.height()).toImage()
        return len({image.pixel(x, y) for x in range(image.width())
                    for y in range(image.height())}) > 2

    out["painted"] = wait_until(painted, 10.0)
    shots = {"idle": grab()}
    keys = {"idle": icon.icon().cacheKey()}
    for state in (IndicatorState.IN_CALL, IndicatorState.CUE, IndicatorState.DEVICE_PROBLEM,
                  IndicatorState.PAUSED):
        tray.set_state(state)
        previous = list(shots.values())[-1]
        wait_until(lambda: grab() != previous, 5.0)
        shots[state.value] = grab()
        keys[state.value] = icon.icon().cacheKey()
    out["distinct_tray_pixels"] = len(set(shots.values()))
    out["distinct_icons"] = len(set(keys.values()))
    out["tooltip_paused"] = icon.toolTip()
    tray.set_in_call(True)
    out["call_action_in_call"] = tray.call_action.text()
    tray.set_in_call(False)

    # A real right-click on the icon in the tray opens the menu; clicking
    # "Breathe now" in it reaches the app.
    fired = []
    tray.breatheRequested.connect(lambda: fired.append("breathe"))
    centre = geo.center()
    xdo("mousemove", str(centre.x()), str(centre.y()))
    wait_until(lambda: False, 0.2)
    xdo("click", "3")
    out["menu_opened"] = wait_until(tray.menu.isVisible, 5.0)
    if out["menu_opened"]:
        wait_until(lambda: False, 0.3)
        rect = tray.menu.actionGeometry(tray.breathe_action)
        point = tray.menu.mapToGlobal(rect.center())
        xdo("mousemove", str(point.x()), str(point.y()))
        wait_until(lambda: False, 0.2)
        xdo("click", "1")
        out["menu_action_fired"] = wait_until(lambda: bool(fired), 5.0)
        out["menu_closed"] = wait_until(lambda: not tray.menu.isVisible(), 5.0)
    tray.hide()


def focus_scenario(passive):
    from models.events import Event, EventKind, EventPhase, EventUpdate, Severity
    from models.settings import RuleSettings
    from monitor.engine import LiveEvent, StatusChange
    from ui.live_window import LiveWindow

    softphone = QWidget()
    softphone.setWindowTitle(SOFTPHONE)
    line = QLineEdit(softphone)
    QVBoxLayout(softphone).addWidget(line)
    softphone.resize(420, 120)
    softphone.move(40, 60)
    softphone.show()
    QTest.qWaitForWindowExposed(softphone)
    softphone.raise_()
    softphone.activateWindow()
    line.setFocus()
    out["softphone_focused_before"] = wait_until(
        lambda: softphone.isActiveWindow() and focused_name() == SOFTPHONE, 10.0)
    out["softphone_wid"] = int(softphone.winId())

    live = LiveWindow(RuleSettings(), passive=passive, hide_on_close=passive, chime=lambda: None)
    live.move(520, 60)
    live.show()
    out["live_exposed"] = QTest.qWaitForWindowExposed(live, 10000)
    wait_until(lambda: False, 1.0)  # let the WM place (and maybe focus) the new window
    out["focus_after_show"] = focused_name()
    out["active_after_show"] = xdo("getactivewindow")

    update = EventUpdate(EventPhase.OPEN,
                         Event(EventKind.RAISED_VOICE, 5.0, 7.0, 8.0, 6.0, Severity.LOW))
    live.show_event(LiveEvent(update, time.time(), 1))
    wait_until(lambda: False, 1.0)
    out["cue"] = live.cue_label.text()
    out["focus_after_cue"] = focused_name()
    out["active_after_cue"] = xdo("getactivewindow")
    out["qt_focus_window_is_softphone"] = QApplication.focusWindow() is softphone.windowHandle()
    out["softphone_active"] = softphone.isActiveWindow()
    out["live_active"] = live.isActiveWindow()

    xdo("type", "--delay", "30", "hello caller")
    out["typed_reached_softphone"] = wait_until(lambda: line.text() == "hello caller", 10.0)
    out["softphone_text"] = line.text()

    out["live_visible"] = live.isVisible()
    live.show_status(StatusChange("call_started", 0.0, 0.0, ""))
    out["live_title"] = live.windowTitle()
    wait_until(lambda: "call" in xdo("getwindowname", str(int(live.winId()))), 5.0)
    out["live_x11_title"] = xdo("getwindowname", str(int(live.winId())))
    out["live_wid"] = int(live.winId())
    shown = xdo("search", "--onlyvisible", "--name", "CalmLine").split()
    out["live_viewable_on_screen"] = str(int(live.winId())) in shown


mode = sys.argv[1]
if mode == "tray":
    tray_scenario()
else:
    focus_scenario(passive=(mode == "focus-passive"))
print("RESULT " + json.dumps(out), flush=True)
'''


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _wait_for(check, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return bool(check())


@pytest.fixture(scope="module")
def desktop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """An Xvfb display with openbox and a trayer system tray; yields the child's environment."""
    missing = [f"{tool} ({package})" for tool, package in TOOLS.items() if not shutil.which(tool)]
    if missing:
        pytest.skip(f"real-desktop tests need {', '.join(missing)}: run scripts/setup.sh")
    logs = tmp_path_factory.mktemp("desktop")
    procs: list[subprocess.Popen] = []

    def spawn(name: str, args: list[str], env: dict[str, str] | None = None,
              **kwargs) -> subprocess.Popen:
        log = open(logs / f"{name}.log", "wb")  # noqa: SIM115 - lives as long as the process
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env,
                                stdin=subprocess.DEVNULL, **kwargs)
        log.close()
        procs.append(proc)
        return proc

    try:
        # Xvfb picks a free display itself and writes its number once it accepts clients.
        read_fd, write_fd = os.pipe()
        try:
            xvfb = spawn("xvfb", ["Xvfb", "-displayfd", str(write_fd), "-screen", "0",
                                  "1280x800x24", "-nolisten", "tcp", "-noreset"],
                         pass_fds=(write_fd,))
        finally:
            os.close(write_fd)
        try:
            # Read up to the newline: Xvfb writes the number and the newline separately and
            # dies if the pipe is closed in between.
            answer = b""
            deadline = time.monotonic() + 20.0
            while not answer.endswith(b"\n") and time.monotonic() < deadline:
                left_s = max(0.0, deadline - time.monotonic())
                ready, _, _ = select.select([read_fd], [], [], left_s)
                chunk = os.read(read_fd, 64) if ready else b""
                if not chunk:
                    break
                answer += chunk
            number = answer.decode().strip() if answer.endswith(b"\n") else ""
        finally:
            os.close(read_fd)
        if not number.isdigit():
            pytest.fail(f"Xvfb did not start (exit {xvfb.poll()}): see {logs / 'xvfb.log'}")

        env = {k: v for k, v in os.environ.items()
               # No session bus: Qt then uses the X11 (XEmbed) tray, which trayer hosts.
               if k not in ("DBUS_SESSION_BUS_ADDRESS", "WAYLAND_DISPLAY", "QT_QPA_PLATFORMTHEME")}
        env.update(DISPLAY=f":{number}", QT_QPA_PLATFORM="xcb", HOME=str(logs))

        def wm_running() -> bool:
            done = subprocess.run(["xprop", "-root", "_NET_SUPPORTING_WM_CHECK"], env=env,
                                  capture_output=True, text=True, timeout=10)
            return "window id" in done.stdout

        spawn("openbox", ["openbox", "--sm-disable"], env=env)
        if not _wait_for(wm_running, 20.0):
            pytest.fail(f"openbox did not start: see {logs / 'openbox.log'}")

        def tray_host_running() -> bool:
            done = subprocess.run(["xdotool", "search", "--classname", "trayer"], env=env,
                                  capture_output=True, text=True, timeout=10)
            return bool(done.stdout.strip())

        spawn("trayer", ["trayer", "--edge", "top", "--align", "right", "--widthtype", "request",
                         "--height", "32", "--SetDockType", "true", "--transparent", "false"],
              env=env)
        if not _wait_for(tray_host_running, 20.0):
            pytest.fail(f"trayer did not start: see {logs / 'trayer.log'}")
        yield env
    finally:
        for proc in reversed(procs):
            _stop(proc)


def run_scenario(env: dict[str, str], mode: str) -> dict:
    """Run the Qt scenario ``mode`` on the desktop and return its findings."""
    try:
        done = subprocess.run([sys.executable, "-c", SCENARIO, mode], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=SCENARIO_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the {mode} scenario hung; output so far:\n{exc.stdout}\n{exc.stderr}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, \
        f"the {mode} scenario failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}"
    return json.loads(lines[-1].removeprefix("RESULT "))


def test_the_tray_icon_appears_in_a_real_tray_and_offers_its_menu(desktop) -> None:
    out = run_scenario(desktop, "tray")
    assert out["platform"] == "xcb"
    assert out["qt_tray_available"], out
    assert out["controller_available"] and out["icon_visible"], out
    assert out["embedded"], f"the icon never got a place in the tray: {out}"
    assert out["context_menu_is_the_menu"]
    assert out["actions"] == ["&Show CalmLine", "&Start call", "&Pause monitoring", "&Breathe now",
                              "S&ettings…", "&Quit CalmLine"]
    assert out["tooltip"] == "CalmLine: Listening, no call"
    assert out["tooltip_paused"] == "CalmLine: Monitoring paused"
    assert out["call_action_in_call"] == "S&top call"
    assert out["painted"], "the icon was never drawn in the tray"
    assert out["distinct_icons"] == 5
    assert out["distinct_tray_pixels"] == 5, "the icon in the tray did not change with every state"
    assert out["menu_opened"], "a right-click on the tray icon did not open its menu"
    assert out["menu_action_fired"] and out["menu_closed"], out


@pytest.mark.parametrize("mode", ["focus-passive", "focus-active"],
                         ids=["with-tray-passive", "without-tray"])
def test_a_cue_never_takes_focus_from_the_softphone(desktop, mode: str) -> None:
    out = run_scenario(desktop, mode)
    assert out["platform"] == "xcb"
    assert out["softphone_focused_before"], f"could not focus the softphone to begin with: {out}"
    softphone = str(out["softphone_wid"])
    assert out["live_exposed"] and out["live_visible"], out
    assert "CalmLine" in out["live_title"]
    assert out["live_x11_title"].count("CalmLine") == 1, out["live_x11_title"]
    assert out["live_viewable_on_screen"], f"the live window is not mapped on screen: {out}"
    assert out["focus_after_show"].startswith("Softphone"), f"showing the window took focus: {out}"
    assert out["active_after_show"] == softphone, out
    assert out["cue"] == "Softer"
    assert out["focus_after_cue"].startswith("Softphone"), f"the cue took focus: {out}"
    assert out["active_after_cue"] == softphone, out
    assert out["qt_focus_window_is_softphone"] and out["softphone_active"], out
    assert not out["live_active"], out
    assert out["typed_reached_softphone"], f"typing no longer reaches the softphone: {out}"
