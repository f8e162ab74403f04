"""A process that captured audio exits, whatever its streams went through.

sounddevice terminates PortAudio at interpreter exit, and ``Pa_Terminate``
closes every stream still open. These tests run CalmLine's capture in a child
process on a private PulseAudio server, unplug and replug the microphone (so
its stream is closed and a new one opened), end the child and wait for it. A
hang is the failure: each child gets a generous ``wait`` timeout, and nothing
asserts how fast it exits.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.pulse_server import PulseServer, pulse_server, write_tone

__all__ = ["pulse_server"]  # the fixture is used by name

REPO = Path(__file__).resolve().parent.parent
EXIT_WAIT_S = 30.0
EVENT_WAIT_S = 20.0


class Child:
    """A child Python process whose combined output is collected in a file.

    Parameters
    ----------
    args : list of str
        Arguments after the interpreter.
    tmp_path : Path
        Folder for the output file and the child's home.
    """

    def __init__(self, args: list[str], tmp_path: Path) -> None:
        home = tmp_path / "home"
        home.mkdir(exist_ok=True)
        env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
                   XDG_DATA_HOME=str(home / ".local" / "share"),
                   XDG_STATE_HOME=str(home / ".local" / "state"),
                   XDG_CACHE_HOME=str(home / ".cache"), PYTHONPATH=str(REPO),
                   PYTHONDONTWRITEBYTECODE="1")
        self.output_path = tmp_path / "child.log"
        with open(self.output_path, "wb") as output:
            self.process = subprocess.Popen([sys.executable, *args], env=env, cwd=tmp_path,
                                            stdin=subprocess.DEVNULL, stdout=output,
                                            stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.output_path.read_text(errors="replace")

    def wait_for(self, text: str) -> None:
        deadline_s = time.monotonic() + EVENT_WAIT_S
        while text not in self.output():
            assert self.process.poll() is None, f"child exited early:\n{self.output()}"
            assert time.monotonic() < deadline_s, f"no {text!r} from the child:\n{self.output()}"
            time.sleep(0.05)

    def exit_code(self) -> int:
        """Wait for the child to exit; a child still running after ``EXIT_WAIT_S`` fails the test."""
        try:
            return self.process.wait(timeout=EXIT_WAIT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"the child did not exit within {EXIT_WAIT_S:.0f} s:\n{self.output()}")


def unplug_and_replug(pulse_server: PulseServer, child: Child, lost: str, back: str) -> None:
    pulse_server.unload_sink("agent_mic")
    child.wait_for(lost)
    pulse_server.load_sink("agent_mic")
    child.wait_for(back)


def test_monitor_interrupted_after_an_unplug_and_replug_exits(
        pulse_server: PulseServer, tmp_path: Path) -> None:
    # As an agent does it: Ctrl-C after the headset came back. Were Ctrl-C a
    # KeyboardInterrupt landing in Thread.join, Python 3.11 would take the engine thread
    # for finished, and the process would exit while it still closed its streams: after
    # a replug that raced PortAudio's own shutdown into a hang, 3 times in 4.
    pulse_server.play("customer_line", write_tone(tmp_path / "customer.wav", 1000.0, 60.0))
    child = Child(["-m", "ui.cli", "-v", "monitor", "--headless",
                   "--agent", "pulse:agent_mic.monitor",
                   "--customer", "pulse:customer_line.monitor",
                   "--events-jsonl", "-", "--no-store"], tmp_path)
    child.wait_for('"monitoring_started"')
    unplug_and_replug(pulse_server, child, '"microphone_lost"', '"microphone_restored"')
    time.sleep(1.0)
    child.process.send_signal(signal.SIGINT)
    assert child.exit_code() == 0
    assert '"monitoring_stopped"' in child.output()  # the engine finished before the process
