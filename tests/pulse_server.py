"""A private PulseAudio server for capture tests.

:class:`PulseServer` runs ``pulseaudio`` as a child process on a socket in a
temporary folder, with named null sinks whose ``.monitor`` sources stand in
for a microphone and a softphone's output. It can play files into sinks,
unload and reload a sink (a headset unplug), and restart the whole server.
The server is found through ``PULSE_SERVER``, which :func:`pulse_server`
sets for the test process only while the fixture is alive, so parallel test
runs and a user's own session never meet.

Use the ``pulse_server`` fixture (import it into a test module) or the class
directly. Tests skip when ``pulseaudio``, ``pactl`` or ``paplay`` is missing.
"""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

logger = logging.getLogger(__name__)

REQUIRED_TOOLS = ("pulseaudio", "pactl", "paplay")
STARTUP_TIMEOUT_S = 15.0


def pulse_tools_missing() -> list[str]:
    """Names of the command-line tools these tests need but cannot find."""
    return [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]


class PulseServer:
    """A private PulseAudio daemon with named null sinks.

    Parameters
    ----------
    root : Path
        Empty folder for the socket, config, state and log.
    sinks : sequence of str
        Null sinks to create; each brings a ``<name>.monitor`` source.
    """

    def __init__(self, root: Path, sinks: Sequence[str]) -> None:
        self.root = root
        self.sinks = list(sinks)
        self.socket_path = root / "native"
        self._daemon: subprocess.Popen | None = None
        self._players: list[subprocess.Popen] = []
        self._sink_modules: dict[str, str] = {}
        client_conf = root / "client.conf"
        # A client must never start a server of its own while ours is down.
        client_conf.write_text("autospawn = no\n")
        self.client_env = {
            "PULSE_SERVER": f"unix:{self.socket_path}",
            "PULSE_CLIENTCONFIG": str(client_conf),
        }

    def _daemon_env(self) -> dict[str, str]:
        home = self.root / "home"
        home.mkdir(exist_ok=True)
        env = {name: value for name, value in os.environ.items()
               if not name.startswith("PULSE_")}
        env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
                   XDG_RUNTIME_DIR=str(self.root), PULSE_RUNTIME_PATH=str(self.root / "run"),
                   PULSE_STATE_PATH=str(self.root / "state"))
        return env

    def _client_process_env(self) -> dict[str, str]:
        env = {name: value for name, value in os.environ.items()
               if not name.startswith("PULSE_")}
        env.update(self.client_env, LC_ALL="C")
        return env

    def start(self) -> None:
        """Start the daemon and create the sinks; wait until it answers."""
        log = open(self.root / "pulseaudio.log", "ab")
        with log:
            self._daemon = subprocess.Popen(
                ["pulseaudio", "-n", "--daemonize=no", "--system=no", "--exit-idle-time=-1",
                 "--use-pid-file=no", "--disallow-exit", "--log-target=stderr",
                 f"--load=module-native-protocol-unix auth-anonymous=1 "
                 f"socket={self.socket_path}"],
                env=self._daemon_env(), stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        deadline_s = time.monotonic() + STARTUP_TIMEOUT_S
        while self.pactl_result("info").returncode != 0:
            if self._daemon.poll() is not None:
                raise RuntimeError(f"pulseaudio exited with {self._daemon.returncode}; "
                                   f"see {self.root / 'pulseaudio.log'}")
            if time.monotonic() > deadline_s:
                raise RuntimeError("pulseaudio did not answer within "
                                   f"{STARTUP_TIMEOUT_S:.0f} s")
            time.sleep(0.05)
        self._sink_modules.clear()
        for name in self.sinks:
            self.load_sink(name)

    def stop(self) -> None:
        """Stop players and the daemon."""
        for player in self._players:
            _end(player)
        self._players.clear()
        if self._daemon is not None:
            _end(self._daemon)
            self._daemon = None

    def restart(self) -> None:
        """Kill the daemon and start a fresh one with the same sinks (players end)."""
        self.stop()
        self.start()

    def pactl_result(self, *args: str) -> subprocess.CompletedProcess:
        """Run pactl against this server."""
        return subprocess.run(["pactl", *args], env=self._client_process_env(),
                              capture_output=True, text=True, timeout=10, check=False)

    def pactl(self, *args: str) -> str:
        """Run pactl against this server; raise on failure; return its output."""
        done = self.pactl_result(*args)
        if done.returncode != 0:
            raise RuntimeError(f"pactl {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def load_sink(self, name: str) -> None:
        """Create (or re-create) a null sink."""
        module = self.pactl("load-module", "module-null-sink", f"sink_name={name}",
                            f"sink_properties=device.description={name}").strip()
        self._sink_modules[name] = module

    def unload_sink(self, name: str) -> None:
        """Remove a null sink and its monitor source, like unplugging a device."""
        self.pactl("unload-module", self._sink_modules.pop(name))

    def play(self, sink: str, path: Path) -> subprocess.Popen:
        """Start playing a file into a sink; stopped at teardown at the latest."""
        player = subprocess.Popen(["paplay", f"--device={sink}", str(path)],
                                  env=self._client_process_env(),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL)
        self._players.append(player)
        return player

    def stop_player(self, player: subprocess.Popen) -> None:
        """Stop one player started by :meth:`play`."""
        _end(player)
        if player in self._players:
            self._players.remove(player)


def _end(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def write_tone(path: Path, frequency_hz: float, duration_s: float, sr_hz: int = 16000,
               amplitude: float = 0.3) -> Path:
    """Write a mono sine tone as 16-bit WAV (a stand-in for one party's voice)."""
    t_s = np.arange(int(duration_s * sr_hz)) / sr_hz
    sf.write(str(path), amplitude * np.sin(2 * np.pi * frequency_hz * t_s), sr_hz,
             subtype="PCM_16")
    return path


def dominant_frequency_hz(samples: np.ndarray, sr_hz: int) -> float:
    """Frequency of the strongest spectral peak of a mono signal."""
    windowed = samples * np.hanning(len(samples))
    spectrum = np.abs(np.fft.rfft(windowed))
    return float(np.argmax(spectrum) * sr_hz / len(samples))


@pytest.fixture
def pulse_server(tmp_path_factory: pytest.TempPathFactory,
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[PulseServer]:
    """A running private server with sinks ``agent_mic`` and ``customer_line``.

    The test process talks to it (PortAudio's ALSA ``pulse`` device, pactl)
    through environment variables set only for the test's duration.
    """
    missing = pulse_tools_missing()
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")
    # Short path: the socket path must fit in sockaddr_un (108 bytes).
    root = tmp_path_factory.mktemp("pulse", numbered=True)
    server = PulseServer(root, ["agent_mic", "customer_line"])
    for name in [name for name in os.environ if name.startswith("PULSE_")]:
        monkeypatch.delenv(name)
    for name, value in server.client_env.items():
        monkeypatch.setenv(name, value)
    try:
        server.start()
    except RuntimeError as exc:
        server.stop()
        pytest.skip(f"cannot start a private PulseAudio server here: {exc}")
    try:
        yield server
    finally:
        server.stop()
