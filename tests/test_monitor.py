"""The live path driven by a replayed recording: parity with analyze, latency, logging, signals."""
from __future__ import annotations

import csv
import io
import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.audio_fixtures import have
from tests.scripted_calls import EXPECTED_INTERRUPTION_STARTS_S, write_interruptions_call
from ui.cli import main

pytestmark = pytest.mark.skipif(not have("espeak-ng"), reason="espeak-ng renders the calls")


@pytest.fixture(scope="module")
def demo_call(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ui.demo_call import write_demo_call

    return write_demo_call(tmp_path_factory.mktemp("demo") / "demo_call.wav")


@pytest.fixture(scope="module")
def short_call(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_interruptions_call(tmp_path_factory.mktemp("short"))


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def closed_events(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line.get("phase") == "close"]


def test_fast_replay_gives_the_events_of_analyze(demo_call: Path, tmp_path: Path) -> None:
    report = tmp_path / "analysis.json"
    assert main(["analyze", str(demo_call), "--json", str(report)]) == 0
    expected = json.loads(report.read_text())["events"]
    log = tmp_path / "events.jsonl"
    assert main(["monitor", "--headless", "--replay", str(demo_call), "--fast", "--no-store",
                 "--events-jsonl", str(log)]) == 0
    got = closed_events(read_jsonl(log))
    assert [e["kind"] for e in got] == [e["kind"] for e in expected]
    for live, offline in zip(got, expected):
        assert abs(live["start_s"] - offline["start_s"]) <= 0.2
        assert abs(live["end_s"] - offline["end_s"]) <= 0.2
    assert log.stat().st_mode & 0o077 == 0


def test_a_profile_from_a_quieter_headset_is_learnt_again(demo_call: Path, tmp_path: Path) -> None:
    # Replays never use the saved profile (they must match analyze), so the engine is
    # given one directly, as it is for a live microphone.
    import numpy as np
    import soundfile as sf

    from models.baseline import Baseline
    from monitor.audio_file import CallRecording
    from monitor.capture import FileReplaySource
    from monitor.engine import EngineOptions, MonitorEngine

    offline = tmp_path / "offline.json"
    assert main(["analyze", str(demo_call), "--json", str(offline)]) == 0
    report = json.loads(offline.read_text())
    audio, sr_hz = sf.read(demo_call, dtype="float32")
    three_calls = tmp_path / "three_calls.wav"
    sf.write(three_calls, np.concatenate([audio] * 3), sr_hz)
    # Calibrated on a headset 12 dB quieter than this one: every word would read as raised.
    stale = Baseline(report["baseline"]["loudness_lufs"] - 12.0, None, True, "profile")

    class Collect:
        def __init__(self) -> None:
            self.statuses: list = []
            self.events: list = []

        def on_frame(self, frame, baseline) -> None:
            pass

        def on_event(self, event) -> None:
            self.events.append(event)

        def on_status(self, status) -> None:
            self.statuses.append(status)

    seen = Collect()
    engine = MonitorEngine(FileReplaySource(CallRecording(three_calls), fast=True), None, seen,
                           EngineOptions(profile=stale, stereo_channels=(0, 1)))
    engine.start()
    engine.join(120)
    engine.stop()
    assert engine.error is None
    shifts = [s for s in seen.statuses if s.kind == "level_shift"]
    assert len(shifts) == 1
    louder_db = re.search(r"(\d+) dB louder", shifts[0].detail)
    assert louder_db and 11 <= int(louder_db.group(1)) <= 14
    raised_after = [e for e in seen.events if e.update.event.kind.value == "raised_voice"
                    and e.update.phase.value == "close" and e.update.event.start_s > shifts[0].t_s]
    raised_per_demo = sum(e["kind"] == "raised_voice" for e in report["events"])
    # From there on only the demo's own raised-voice episodes are cued.
    assert 0 < len(raised_after) <= 2 * raised_per_demo


def test_a_muted_microphone_is_reported_until_the_agent_is_heard(demo_call: Path,
                                                                 tmp_path: Path) -> None:
    import numpy as np
    import soundfile as sf

    audio, sr_hz = sf.read(demo_call, dtype="float32")
    # The agent's mic is muted for the first of two back-to-back demo calls.
    muted = np.concatenate([audio] * 2)
    muted[:len(audio), 0] = 0.0
    path = tmp_path / "muted.wav"
    sf.write(path, muted, sr_hz)
    log = tmp_path / "events.jsonl"
    assert main(["monitor", "--headless", "--replay", str(path), "--fast", "--no-store",
                 "--events-jsonl", str(log)]) == 0
    statuses = [line for line in read_jsonl(log) if line["kind"].startswith("agent_")]
    assert [s["kind"] for s in statuses] == ["agent_not_heard", "agent_heard"]
    assert statuses[0]["detail"].startswith("Not hearing you")
    demo_s = len(audio) / sr_hz
    assert statuses[0]["t_s"] < demo_s - 0.1 <= statuses[1]["t_s"] < demo_s + 15.0


def test_real_time_replay_emits_within_300_ms(short_call: dict[str, Path], tmp_path: Path) -> None:
    log = tmp_path / "events.jsonl"
    assert main(["monitor", "--headless", "--replay", str(short_call["call"]), "--no-store",
                 "--events-jsonl", str(log)]) == 0
    lines = read_jsonl(log)
    started = next(datetime.fromisoformat(x["emitted_at"]) for x in lines
                   if x["kind"] == "monitoring_started")
    opens = [x for x in lines if x.get("phase") == "open"]
    assert [x["kind"] for x in opens] == ["interruption", "interruption"]
    for event in opens:
        due = started.timestamp() + event["end_s"]  # the condition was met at end_s of the stream
        latency_s = datetime.fromisoformat(event["emitted_at"]).timestamp() - due
        assert latency_s <= 0.3, f"{event['kind']} emitted {latency_s:.3f} s after its condition"
    starts = [e["start_s"] for e in closed_events(lines) if e["kind"] == "interruption"]
    assert starts == pytest.approx(EXPECTED_INTERRUPTION_STARTS_S, abs=0.5)


def test_calls_and_events_are_logged(demo_call: Path, tmp_path: Path) -> None:
    store = tmp_path / "calls.sqlite3"
    assert main(["monitor", "--headless", "--replay", str(demo_call), "--fast",
                 "--store", str(store)]) == 0
    with sqlite3.connect(store) as db:
        calls = db.execute("SELECT interruptions, raised_voice_s, ended_at FROM calls").fetchall()
        kinds = [k for (k,) in db.execute("SELECT kind FROM events ORDER BY start_s")]
    assert len(calls) == 1 and calls[0][0] == 2 and calls[0][1] > 3 and calls[0][2]
    assert kinds.count("interruption") == 2 and "raised_voice" in kinds
    assert store.stat().st_mode & 0o077 == 0


def test_a_call_ends_with_its_last_speech_not_the_silence_after(demo_call: Path, tmp_path: Path) -> None:
    import numpy as np
    import soundfile as sf

    audio, sr_hz = sf.read(demo_call, dtype="float32")
    padded = tmp_path / "then_silence.wav"
    sf.write(padded, np.concatenate([audio, np.zeros((30 * sr_hz, audio.shape[1]), np.float32)]), sr_hz)
    store = tmp_path / "calls.sqlite3"
    assert main(["monitor", "--headless", "--replay", str(padded), "--fast", "--store", str(store)]) == 0
    with sqlite3.connect(store) as db:
        [(start_s, end_s, duration_s, talk_s, share)] = db.execute(
            "SELECT start_s, end_s, duration_s, agent_talk_s, agent_talk_share FROM calls").fetchall()
    assert end_s < audio.shape[0] / sr_hz
    assert duration_s == pytest.approx(end_s - start_s)
    assert share == pytest.approx(talk_s / duration_s)


def test_the_log_exports_to_json_and_csv(demo_call: Path, tmp_path: Path) -> None:
    store = tmp_path / "calls.sqlite3"
    assert main(["monitor", "--headless", "--replay", str(demo_call), "--fast",
                 "--store", str(store)]) == 0
    assert main(["export", "--store", str(store), "--json", str(tmp_path / "calls.json"),
                 "--csv", str(tmp_path / "log")]) == 0
    exported = json.loads((tmp_path / "calls.json").read_text())
    assert exported["schema"] == "calmline.calls/1" and len(exported["calls"]) == 1
    assert [e["kind"] for e in exported["calls"][0]["events"]].count("interruption") == 2
    assert (tmp_path / "log-events.csv").read_text().count("interruption") == 2
    assert (tmp_path / "log-calls.csv").stat().st_mode & 0o077 == 0
    prompts = list(csv.DictReader(io.StringIO((tmp_path / "log-prompts.csv").read_text())))
    assert [p["call_id"] for p in prompts] == [str(c["prompts"][0]["call_id"])
                                               for c in exported["calls"] if c["prompts"]]
    result = subprocess.run([sys.executable, "-m", "ui.cli", "export", "--store",
                             str(tmp_path / "none.sqlite3"), "--json", "-"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "no call log yet" in result.stderr


def test_outputs_never_overwrite_the_call_log_or_the_replay(demo_call: Path, tmp_path: Path) -> None:
    store = tmp_path / "calls.sqlite3"
    assert main(["monitor", "--headless", "--replay", str(demo_call), "--fast",
                 "--store", str(store)]) == 0
    logged = store.read_bytes()
    recording = demo_call.read_bytes()
    for args, fragment in ((["export", "--store", str(store), "--json", str(store)], "is the call log"),
                           (["export", "--store", str(store), "--json", str(tmp_path / "x-calls.csv"),
                             "--csv", str(tmp_path / "x")], "is the --json output"),
                           (["monitor", "--headless", "--replay", str(demo_call), "--fast", "--no-store",
                             "--events-jsonl", str(demo_call)], "is the recording being replayed"),
                           (["monitor", "--headless", "--replay", str(demo_call), "--fast",
                             "--store", str(store), "--events-jsonl", str(store)], "is the call log")):
        result = subprocess.run([sys.executable, "-m", "ui.cli", *args], capture_output=True, text=True,
                                timeout=60)
        assert result.returncode == 2 and fragment in result.stderr, result.stderr
    assert store.read_bytes() == logged
    assert demo_call.read_bytes() == recording


def test_outputs_replace_only_files_of_their_own_kind(demo_call: Path, tmp_path: Path) -> None:
    store = tmp_path / "calls.sqlite3"
    assert main(["monitor", "--headless", "--replay", str(demo_call), "--fast",
                 "--store", str(store)]) == 0
    other = tmp_path / "another_call.wav"  # not an input of any of these runs
    other.write_bytes(demo_call.read_bytes())
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    for args in (["analyze", str(demo_call), "--json", str(other)],
                 ["analyze", str(demo_call), "--csv", str(notes)],
                 ["export", "--store", str(store), "--json", str(other)],
                 ["monitor", "--headless", "--replay", str(demo_call), "--fast", "--no-store",
                  "--events-jsonl", str(other)]):
        result = subprocess.run([sys.executable, "-m", "ui.cli", *args], capture_output=True, text=True,
                                timeout=60)
        assert result.returncode == 2 and "exists and is not a ." in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert other.read_bytes() == demo_call.read_bytes() and notes.read_text() == "my notes"
    report = tmp_path / "report.json"
    report.write_text("{}")  # an earlier report of the same kind is replaced
    assert main(["export", "--store", str(store), "--json", str(report)]) == 0
    assert report.read_text() != "{}"


def test_recording_is_off_unless_asked(demo_call: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert main(["monitor", "--headless", "--replay", str(demo_call), "--fast", "--no-store"]) == 0
    assert not list((tmp_path / "data").rglob("*.flac"))
    assert main(["monitor", "--headless", "--replay", str(demo_call), "--fast", "--no-store",
                 "--record"]) == 0
    recordings = list((tmp_path / "data").rglob("*.flac"))
    assert len(recordings) == 1 and recordings[0].stat().st_mode & 0o077 == 0
    for folder in (recordings[0].parent, recordings[0].parent.parent):  # recordings/, calmline/
        assert folder.stat().st_mode & 0o077 == 0, folder


def test_calls_starting_in_the_same_second_get_a_recording_each(demo_call: Path, tmp_path: Path,
                                                                monkeypatch) -> None:
    import numpy as np
    import soundfile as sf

    import monitor.engine

    class SameSecond(datetime):
        @classmethod
        def now(cls, tz=None) -> SameSecond:
            return cls(2025, 1, 2, 3, 4, 5, tzinfo=tz)

    # A fast replay starts the calls within a second or two: here, always within the same one.
    monkeypatch.setattr(monitor.engine, "datetime", SameSecond)
    audio, sr_hz = sf.read(demo_call, dtype="float32")
    gap = np.zeros((20 * sr_hz, audio.shape[1]), np.float32)  # long enough to end each call
    three_calls = tmp_path / "three_calls.wav"
    sf.write(three_calls, np.concatenate([audio, gap, audio, gap, audio]), sr_hz)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    log = tmp_path / "events.jsonl"
    # No call log, so no call ids to tell the files apart.
    assert main(["monitor", "--headless", "--replay", str(three_calls), "--fast", "--no-store",
                 "--record", "--events-jsonl", str(log)]) == 0
    assert [x["kind"] for x in read_jsonl(log)].count("call_started") == 3
    recordings = list((tmp_path / "data").rglob("*.flac"))
    assert len(recordings) == 3, recordings
    for path in recordings:
        assert sf.info(path).duration > 30


@pytest.mark.parametrize("damage", ["truncated", "newer"])
def test_a_damaged_call_log_leaves_coaching_on(demo_call: Path, tmp_path: Path, capsys,
                                               damage: str) -> None:
    from models.store import SCHEMA_VERSION, CallStore

    store = tmp_path / "calls.sqlite3"
    with CallStore(store) as made:
        made.begin_call("2025-01-02T03:04:05+00:00", 0.0, "two_party")
    if damage == "truncated":
        store.write_bytes(store.read_bytes()[:5000])
    else:
        with sqlite3.connect(store) as db:
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        db.close()
    kept = store.read_bytes()
    log = tmp_path / "events.jsonl"
    # The default retention opens the log before the engine does; that does not stop it either.
    assert main(["monitor", "--headless", "--replay", str(demo_call), "--fast", "--store", str(store),
                 "--events-jsonl", str(log)]) == 0
    lines = read_jsonl(log)
    assert [x["kind"] for x in lines][:2] == ["monitoring_started", "call_log_failed"]
    assert [e["kind"] for e in closed_events(lines)].count("interruption") == 2
    err = capsys.readouterr().err
    assert err.startswith("calmline: WARNING: the call log cannot be used: ") and err.count("\n") == 1, err
    assert store.read_bytes() == kept


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_or_sighup_ends_the_call_and_flushes_the_log(demo_call: Path, tmp_path: Path,
                                                              signum: int) -> None:
    # SIGHUP: the terminal was closed or the SSH session dropped.
    log, store = tmp_path / "events.jsonl", tmp_path / "calls.sqlite3"
    proc = subprocess.Popen([sys.executable, "-m", "ui.cli", "monitor", "--headless", "--replay",
                             str(demo_call), "--store", str(store), "--events-jsonl", str(log)],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (log.exists() and "call_started" in log.read_text()):
        time.sleep(0.1)
    proc.send_signal(signum)
    assert proc.wait(timeout=30) == 0, proc.stderr.read()
    kinds = [x["kind"] for x in read_jsonl(log)]
    assert kinds[-2:] == ["call_ended", "monitoring_stopped"]
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT COUNT(*) FROM calls WHERE ended_at IS NOT NULL").fetchone()[0] == 1


@pytest.mark.parametrize("args, fragment", [
    (["--replay", "/no/such/file.wav"], "no such file"),
    (["--fast"], "--fast only applies to --replay"),
    (["--duration", "-1"], "--duration must be a positive number"),
    (["--duration", "nan"], "--duration must be a positive number"),
    (["--settings", "/no/such/settings.toml"], "no such settings file"),
    ([], "--headless"),
    (["--agent", "No Such Mic"], "No Such Mic"),
])
def test_bad_monitor_options_are_one_line(args: list[str], fragment: str) -> None:
    if args != []:
        args = ["--headless", *args]
    result = subprocess.run([sys.executable, "-m", "ui.cli", "monitor", *args, "--no-store"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and fragment in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_customer_recorded_at_another_rate_replays_in_step(short_call: dict[str, Path],
                                                             tmp_path: Path) -> None:
    """A two-file call whose customer side is 8 kHz gives the same frames live as in analyze."""
    import numpy as np
    import soundfile as sf
    import soxr

    from monitor.audio_file import CallRecording
    from monitor.capture import FileReplaySource
    from monitor.engine import EngineOptions, MonitorEngine

    customer, sr_hz = sf.read(short_call["customer"], dtype="float32")
    narrow = tmp_path / "customer_8k.wav"
    sf.write(narrow, soxr.resample(customer, sr_hz, 8000), 8000, subtype="PCM_16")
    report = tmp_path / "analysis.json"
    assert main(["analyze", str(short_call["agent"]), "--customer", str(narrow),
                 "--json", str(report)]) == 0
    offline = json.loads(report.read_text())["frames"]

    class Collect:
        def __init__(self) -> None:
            self.frames: list = []

        def on_frame(self, frame, baseline) -> None:
            self.frames.append(frame)

        def on_event(self, event) -> None:
            pass

        def on_status(self, status) -> None:
            pass

    seen = Collect()
    recording = CallRecording(short_call["agent"], customer_path=narrow)
    engine = MonitorEngine(FileReplaySource(recording, fast=True), None, seen,
                           EngineOptions(stereo_channels=(0, 1)))
    engine.start()
    engine.join(120)
    engine.stop()
    assert engine.error is None
    live = np.array([f.customer.speech for f in seen.frames])
    expected = np.array(offline["customer"]["speech"][:live.size])
    assert live.size >= len(offline["t"]) - 2
    # A customer lagging by a hop would differ at every start and end of a turn.
    assert np.count_nonzero(live != expected) <= 1, np.flatnonzero(live != expected)


@pytest.mark.parametrize("own", ["settings", "profile", "store"])
def test_outputs_never_go_into_calmline_own_files(short_call: dict[str, Path], tmp_path: Path, monkeypatch,
                                                  capsys, own: str) -> None:
    # The default files, with no --settings or --store to say where they are.
    from models.app_settings import default_settings_path
    from models.profile import default_profile_path
    from models.store import CallStore, default_store_path

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    paths = {"settings": default_settings_path(), "profile": default_profile_path(),
             "store": default_store_path()}
    paths["settings"].parent.mkdir(parents=True)
    paths["settings"].write_text("# my settings\n")
    paths["profile"].parent.mkdir(parents=True)
    paths["profile"].write_text('{"schema": "calmline.profile/1"}\n')
    CallStore(paths["store"]).close()
    target = str(paths[own])
    kept = paths[own].read_bytes()
    replay = ["monitor", "--headless", "--replay", str(short_call["call"]), "--fast"]
    for argv in ([*replay, "--events-jsonl", target], [*replay, "--no-store", "--events-jsonl", target],
                 [*replay, "--store", str(tmp_path / "other.sqlite3"), "--events-jsonl", target],
                 ["analyze", str(short_call["call"]), "--json", target],
                 ["analyze", str(short_call["call"]), "--csv", target],
                 ["export", "--store", str(paths["store"]), "--json", target]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith(f"calmline: {target}: is the ") and err.count("\n") == 1, err
        assert paths[own].read_bytes() == kept


@pytest.mark.parametrize("prefix", ["{tmp}/out/", "{tmp}/out"])
def test_csv_export_to_a_folder_writes_inside_it(short_call: dict[str, Path], tmp_path: Path,
                                                 prefix: str) -> None:
    store = tmp_path / "calls.sqlite3"
    assert main(["monitor", "--headless", "--replay", str(short_call["call"]), "--fast",
                 "--store", str(store)]) == 0
    (tmp_path / "out").mkdir()
    assert main(["export", "--store", str(store), "--csv", prefix.format(tmp=tmp_path)]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["calls.csv", "events.csv",
                                                                     "prompts.csv"]
    assert not list(tmp_path.glob("out-*.csv"))
    assert (tmp_path / "out" / "events.csv").read_text().count("interruption") == 2


def test_a_replay_that_fails_midway_is_said_once(tmp_path: Path, capsys) -> None:
    import numpy as np
    import soundfile as sf

    whole = tmp_path / "whole.flac"
    sf.write(whole, np.random.default_rng(3).standard_normal((16000 * 4, 2)) * 0.1, 16000)
    cut = tmp_path / "cut.flac"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    assert main(["monitor", "--headless", "--replay", str(cut), "--fast", "--no-store"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"calmline: {cut}: ") and err.count("\n") == 1, err
