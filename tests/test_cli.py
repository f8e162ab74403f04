"""``calmline analyze`` end to end: outputs, channel options, and bad input."""
from __future__ import annotations

import csv
import errno
import io
import json
import os
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.audio_fixtures import have
from ui.cli import main

pytestmark = pytest.mark.skipif(not have("espeak-ng"), reason="espeak-ng renders the demo call")


@pytest.fixture(scope="session")
def demo_call(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ui.demo_call import write_demo_call

    return write_demo_call(tmp_path_factory.mktemp("demo") / "demo_call.wav")


@pytest.fixture(scope="session")
def demo_report(demo_call: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("report") / "report.json"
    assert main(["analyze", str(demo_call), "--json", str(out)]) == 0
    return json.loads(out.read_text())


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ui.cli", *args], capture_output=True, text=True,
                          timeout=300)


def kinds(report: dict) -> list[str]:
    return [e["kind"] for e in report["events"]]


def test_demo_call_gives_the_scripted_events(demo_report: dict) -> None:
    events = demo_report["events"]
    interruptions = [e for e in events if e["kind"] == "interruption"]
    assert [round(e["start_s"]) for e in interruptions] == pytest.approx([37.5, 56], abs=1.0)
    raised = [e for e in events if e["kind"] == "raised_voice"]
    assert len(raised) == 1 and raised[0]["start_s"] == pytest.approx(61.5, abs=1.0)
    assert raised[0]["severity"] == "medium"  # +13 dB is "loud" on the ANSI S3.5 scale
    fast = [e for e in events if e["kind"] == "fast_speech"]
    assert len(fast) == 1 and 71 <= fast[0]["start_s"] <= 76
    prompts = [e for e in events if e["kind"] == "breathing_prompt"]
    assert len(prompts) >= 1 and prompts[0]["start_s"] >= raised[0]["start_s"]
    assert "monologue" not in kinds(demo_report)


def test_report_follows_the_schema(demo_report: dict) -> None:
    r = demo_report
    assert r["schema"] == "calmline.analysis/1"
    assert r["sample_rate"] == 16000 and r["duration_s"] == pytest.approx(95.1, abs=1.0)
    frames = r["frames"]
    assert frames["hop_s"] == 0.1
    n = len(frames["t"])
    assert n == int(r["duration_s"] / 0.1)
    for party in ("agent", "customer"):
        cols = frames[party]
        assert set(cols) == {"momentary_lufs", "short_term_lufs", "speech", "rate_sps"}
        assert all(len(v) == n for v in cols.values())
        assert all(isinstance(s, bool) for s in cols["speech"])
    for e in r["events"]:
        assert set(e) == {"kind", "start_s", "end_s", "value", "threshold", "severity"}
        assert e["start_s"] <= e["end_s"]
    s = r["summary"]
    assert s["interruptions"] == 2
    for party in ("agent", "customer"):
        assert 10 < s[party]["talk_s"] < 60
        assert 2.0 < s[party]["rate_sps"] < 7.0
    assert r["baseline"]["calibrated"] is True
    assert -32 < r["baseline"]["loudness_lufs"] < -20


def test_human_summary_and_csv(demo_call: Path, tmp_path: Path) -> None:
    result = run_cli("analyze", str(demo_call), "--csv", str(tmp_path / "events.csv"))
    assert result.returncode == 0, result.stderr
    assert "Interruptions  2" in result.stdout and "raised voice" in result.stdout
    rows = list(csv.DictReader(io.StringIO((tmp_path / "events.csv").read_text())))
    assert [r["kind"] for r in rows].count("interruption") == 2
    assert (tmp_path / "events.csv").stat().st_mode & 0o077 == 0  # user-only


def test_json_to_stdout_keeps_stdout_clean(demo_call: Path) -> None:
    result = run_cli("analyze", str(demo_call), "--json", "-")
    assert result.returncode == 0
    assert json.loads(result.stdout)["schema"] == "calmline.analysis/1"
    assert "CalmLine analysis" in result.stderr


def test_a_reader_that_stops_early_ends_the_command_quietly(demo_call: Path, tmp_path: Path) -> None:
    # As in `calmline analyze call.wav --json - | head -c 40`. The report of three
    # demo calls end to end (150 kB) is far larger than a pipe's buffer (64 kB),
    # so the write meets the closed pipe.
    import soundfile as sf

    audio, sr_hz = sf.read(demo_call, dtype="int16")
    call = tmp_path / "three_calls.wav"
    sf.write(call, np.concatenate([audio] * 3), sr_hz)
    proc = subprocess.Popen([sys.executable, "-m", "ui.cli", "analyze", str(call), "--json", "-"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert len(proc.stdout.read(40)) == 40
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 141
    assert "error" not in stderr.lower() and "Traceback" not in stderr


def test_swap_and_separate_customer_file(demo_call: Path, tmp_path: Path) -> None:
    x, sr = sf.read(demo_call)
    swapped = tmp_path / "swapped.wav"
    sf.write(swapped, x[:, ::-1], sr)
    out = tmp_path / "swapped.json"
    assert main(["analyze", str(swapped), "--swap", "--json", str(out)]) == 0
    assert kinds(json.loads(out.read_text())).count("interruption") == 2
    agent, customer = tmp_path / "agent.flac", tmp_path / "customer.wav"
    sf.write(agent, x[:, 0], sr)
    sf.write(customer, x[:, 1], sr)
    out = tmp_path / "two-files.json"
    assert main(["analyze", str(agent), "--customer", str(customer), "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert kinds(report).count("interruption") == 2
    assert not [note for note in report["notes"] if "channels" in note]
    # A customer recording of several channels: its first is used, and the report says so.
    wide = tmp_path / "customer-wide.wav"
    sf.write(wide, np.stack([x[:, 1], x[:, 0], x[:, 0]], axis=1), sr)
    assert main(["analyze", str(agent), "--customer", str(wide), "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert kinds(report).count("interruption") == 2
    assert "customer-wide.wav has 3 channels; the first was taken as the customer" in report["notes"]


def test_mono_means_agent_only(demo_call: Path, tmp_path: Path) -> None:
    out = tmp_path / "mono.json"
    result = run_cli("analyze", str(demo_call), "--mono", "--json", str(out))
    assert result.returncode == 0
    assert "agent only" in result.stdout
    report = json.loads(out.read_text())
    assert report["frames"]["customer"] is None and report["summary"]["customer"] is None
    assert "interruption" not in kinds(report) and "raised_voice" in kinds(report)


def test_telephone_rate_and_other_rates(demo_call: Path, tmp_path: Path) -> None:
    from tests.audio_fixtures import resample

    x, sr = sf.read(demo_call, dtype="float32")
    for rate in (8000, 44100):
        path = tmp_path / f"call_{rate}.wav"
        sf.write(path, np.stack([resample(x[:, c], sr, rate) for c in (0, 1)], axis=1), rate)
        out = tmp_path / f"call_{rate}.json"
        assert main(["analyze", str(path), "--json", str(out)]) == 0
        report = json.loads(out.read_text())
        assert report["sample_rate"] == rate
        assert kinds(report).count("interruption") == 2
        assert kinds(report).count("raised_voice") == 1


def write(path: Path, data: np.ndarray, sr: int = 16000, subtype: str = "PCM_16") -> Path:
    sf.write(path, data, sr, subtype=subtype)
    return path


def wav_with_rate_0(d: Path) -> Path:
    path = write(d / "rate0.wav", np.zeros((1600, 2)))
    data = bytearray(path.read_bytes())
    data[24:28] = struct.pack("<I", 0)  # fmt chunk: sample rate
    path.write_bytes(data)
    return path


def caf_with_nan_rate(d: Path) -> Path:
    path = d / "nan.caf"
    sf.write(path, np.zeros((1600, 2)), 16000, format="CAF")
    data = bytearray(path.read_bytes())
    rate_at = data.index(b"desc") + 12  # after the chunk's type and 64-bit size
    data[rate_at:rate_at + 8] = struct.pack(">d", float("nan"))
    path.write_bytes(data)
    return path


def wav_with_two_data_chunks(d: Path) -> Path:
    path = write(d / "twice.wav", np.zeros((1600, 2)))
    data = path.read_bytes()
    body_at = data.index(b"data") + 8
    header, body = bytearray(data[:body_at - 8]), data[body_at:]
    half = len(body) // 2
    out = (header + b"data" + struct.pack("<I", half) + body[:half]
           + b"data" + struct.pack("<I", len(body) - half) + body[half:])
    out[4:8] = struct.pack("<I", len(out) - 8)
    path.write_bytes(out)
    return path


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing.wav", "no such file"),
    (lambda d: (d / "notes.wav").write_text("not audio at all") and d / "notes.wav", "not a readable audio file"),
    (lambda d: (d / "empty.wav").write_bytes(b"") or d / "empty.wav", "empty"),
    (lambda d: write(d / "zero.wav", np.zeros((0, 2))), "no audio"),
    (lambda d: d, "folder"),
    (lambda d: os.mkfifo(d / "pipe.wav") or d / "pipe.wav", "not a regular file"),
    (lambda d: Path("/dev/zero"), "not a regular file"),
    (lambda d: Path("/dev/urandom"), "not a regular file"),
    (wav_with_rate_0, "its header is invalid"),
    (caf_with_nan_rate, "its header is invalid"),
    (wav_with_two_data_chunks, "its header is invalid"),
    (lambda d: (d / "call.raw").write_bytes(bytes(3200)) and d / "call.raw", "headerless raw audio"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, make, message: str) -> None:
    result = run_cli("analyze", str(make(tmp_path)))
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


FAKE_M4A = b"\0\0\0\x20ftypM4A \0\0\0\0" + bytes(64)


def test_without_ffmpeg_an_m4a_file_is_named_with_the_way_out(tmp_path: Path) -> None:
    path = tmp_path / "call.m4a"
    path.write_bytes(FAKE_M4A)
    result = subprocess.run([sys.executable, "-m", "ui.cli", "analyze", str(path)], capture_output=True,
                            text=True, timeout=300, env={**os.environ, "PATH": str(tmp_path)})
    assert result.returncode == 2
    assert result.stderr == (f"calmline: {path}: M4A/MP4 (AAC) audio needs ffmpeg, which is not "
                             "installed; install it, or convert the file to WAV or FLAC "
                             "(for example: ffmpeg -i call.m4a call.wav)\n")


@pytest.mark.skipif(not have("ffmpeg") or not have("ffprobe"), reason="needs ffmpeg")
def test_a_broken_m4a_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "call.m4a"
    path.write_bytes(FAKE_M4A)
    result = run_cli("analyze", str(path))
    assert result.returncode == 2
    assert result.stderr.startswith(f"calmline: {path}: not a readable M4A/MP4 (AAC) file (")
    assert result.stderr.count("\n") == 1


def test_truncated_files_are_rejected(tmp_path: Path) -> None:
    noise = np.random.default_rng(1).standard_normal((16000 * 4, 2)) * 0.1
    for ext in ("wav", "flac"):
        whole = write(tmp_path / f"whole.{ext}", noise)
        cut = tmp_path / f"cut.{ext}"
        cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
        result = run_cli("analyze", str(cut))
        assert result.returncode == 2, ext
        assert ("truncated" in result.stderr or "damaged" in result.stderr), result.stderr
        assert "Traceback" not in result.stderr


@pytest.mark.skipif(not have("ffmpeg") or not have("ffprobe"), reason="needs ffmpeg")
@pytest.mark.parametrize("name, options", [("call.webm", []), ("call.m4a", ["-movflags", "+faststart"])])
def test_truncated_compressed_files_are_rejected(tmp_path: Path, name: str, options: list[str]) -> None:
    # Their headers state the whole length: half of it would be analysed as silence.
    noise = write(tmp_path / "noise.wav", np.random.default_rng(1).standard_normal((16000 * 4, 2)) * 0.1)
    whole = tmp_path / name
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(noise), *options, str(whole)], check=True)
    cut = tmp_path / f"cut-{name}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    result = run_cli("analyze", str(cut))
    assert result.returncode == 2, result.stdout
    assert result.stderr.startswith(f"calmline: {cut}: the file is truncated or damaged (")
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("name", ["call.ogg", "call.wma"])
def test_cut_files_that_state_no_length_are_analysed_with_a_note(tmp_path: Path, name: str) -> None:
    # What decoded is a shorter call, worth reviewing; the report says it was cut.
    if name.endswith(".wma") and not (have("ffmpeg") and have("ffprobe")):
        pytest.skip("needs ffmpeg")
    noise = write(tmp_path / "noise.wav", np.random.default_rng(1).standard_normal((16000 * 4, 2)) * 0.1)
    whole = tmp_path / name
    if name.endswith(".ogg"):
        write(whole, sf.read(noise)[0], subtype="VORBIS")
    else:
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(noise), str(whole)], check=True)
    cut = tmp_path / f"cut-{name}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    result = run_cli("analyze", str(cut), "--json", "-")
    assert result.returncode == 0, result.stderr
    [note] = [n for n in json.loads(result.stdout)["notes"] if "cut off or damaged" in n]
    assert note.startswith(f"cut-{name}: ")


@pytest.mark.skipif(not have("ffmpeg") or not have("ffprobe"), reason="needs ffmpeg")
def test_a_flac_stream_without_its_length_is_analysed(demo_call: Path, demo_report: dict,
                                                      tmp_path: Path) -> None:
    stream = tmp_path / "stream.flac"
    with stream.open("wb") as out:  # written to a pipe: STREAMINFO says 0 samples, as the spec allows
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(demo_call), "-f", "flac", "-"], stdout=out,
                       check=True)
    out = tmp_path / "report.json"
    assert main(["analyze", str(stream), "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["duration_s"] == demo_report["duration_s"]
    assert report["frames"] == demo_report["frames"] and report["events"] == demo_report["events"]


@pytest.mark.parametrize("placeholder", [0, 0xFFFFFFFF])
def test_an_unfinalised_wav_is_analysed_whole(demo_call: Path, demo_report: dict, tmp_path: Path,
                                              placeholder: int) -> None:
    data = bytearray(demo_call.read_bytes())
    size_at = data.index(b"data") + 4
    data[4:8] = data[size_at:size_at + 4] = struct.pack("<I", placeholder)  # RIFF and data sizes
    path = tmp_path / "unfinalised.wav"
    path.write_bytes(data)
    out = tmp_path / "report.json"
    assert main(["analyze", str(path), "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["duration_s"] == demo_report["duration_s"]
    assert report["events"] == demo_report["events"]


def test_channel_options_that_leave_nothing(tmp_path: Path) -> None:
    stereo = write(tmp_path / "s.wav", np.zeros((16000, 2)))
    result = run_cli("analyze", str(stereo), "--agent-channel", "3")
    assert result.returncode == 2 and "no channel 3" in result.stderr
    result = run_cli("analyze", str(stereo), "--agent-channel", "2", "--customer-channel", "2")
    assert result.returncode == 2 and "cannot both be channel 2" in result.stderr
    result = run_cli("analyze", str(stereo), "--agent-channel", "zero")
    assert result.returncode == 2 and "not a channel" in result.stderr
    result = run_cli("analyze", str(stereo), "--set", "raised_voice_lu=-4")
    assert result.returncode == 2 and "raised_voice_lu" in result.stderr
    result = run_cli("analyze", str(stereo), "--set", "no_such_setting=1")
    assert result.returncode == 2 and "no_such_setting" in result.stderr


def test_six_channel_file_asks_for_a_choice(demo_call: Path, tmp_path: Path) -> None:
    x, sr = sf.read(demo_call, dtype="float32", frames=sr_frames(30))
    six = np.zeros((len(x), 6), dtype=np.float32)
    six[:, 2], six[:, 4] = x[:, 0], x[:, 1]
    path = write(tmp_path / "six.wav", six, sr)
    result = run_cli("analyze", str(path))
    assert result.returncode == 2 and "--agent-channel" in result.stderr
    out = tmp_path / "six.json"
    assert main(["analyze", str(path), "--agent-channel", "3", "--customer-channel", "5",
                 "--json", str(out)]) == 0
    assert json.loads(out.read_text())["channels"] == {"agent": "six.wav:3", "customer": "six.wav:5"}
    # --mono, which the message offers, is the agent alone: channel 1 unless chosen.
    assert main(["analyze", str(path), "--mono", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["channels"] == {"agent": "six.wav:1", "customer": None}
    assert main(["analyze", str(path), "--mono", "--agent-channel", "3", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["channels"] == {"agent": "six.wav:3", "customer": None}
    # With the customer in a file of their own, only the agent's channel is to be chosen.
    customer = write(tmp_path / "customer.wav", x[:, 1], sr)
    result = run_cli("analyze", str(path), "--customer", str(customer))
    assert result.returncode == 2 and "--agent-channel" in result.stderr
    assert "--customer-channel" not in result.stderr and "--mono" not in result.stderr
    assert main(["analyze", str(path), "--agent-channel", "3", "--customer", str(customer),
                 "--json", str(out)]) == 0
    assert json.loads(out.read_text())["channels"] == {"agent": "six.wav:3", "customer": "customer.wav:1"}


def test_a_replay_takes_the_same_channel_options(demo_call: Path, tmp_path: Path, monkeypatch,
                                                 capsys) -> None:
    x, sr = sf.read(demo_call, dtype="float32", frames=sr_frames(30))
    six = np.zeros((len(x), 6), dtype=np.float32)
    six[:, 2], six[:, 4] = x[:, 0], x[:, 1]
    path = write(tmp_path / "six.wav", six, sr)
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")  # a display: the window would open
    result = run_cli("--replay", str(path))
    assert result.returncode == 2 and "--agent-channel" in result.stderr
    assert "calmline --help" not in result.stderr  # the options it names exist here too
    # Without a display the replay is analysed in the terminal, with the channels chosen.
    for name in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    stereo = write(tmp_path / "stereo.wav", x, sr)
    assert main(["analyze", str(stereo)]) == 0
    expected = capsys.readouterr().out
    assert main(["--replay", str(path), "--agent-channel", "3", "--customer-channel", "5"]) == 0
    assert capsys.readouterr().out == expected.replace("stereo.wav", "six.wav")


def test_channel_options_without_a_replay_say_where_they_belong() -> None:
    result = run_cli("--swap", "analyze", "call.wav")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "apply to --replay" in result.stderr and "after the command" in result.stderr


def test_review_of_two_recordings_checks_both_before_any_window(demo_call: Path, tmp_path: Path) -> None:
    result = run_cli("review", str(demo_call), "--customer", str(tmp_path / "in.wav"))
    assert result.returncode == 2 and result.stderr == f"calmline: {tmp_path / 'in.wav'}: no such file\n"
    result = run_cli("review", "--customer", str(demo_call))
    assert result.returncode == 2 and "needs your recording too" in result.stderr


def test_review_takes_the_channel_options() -> None:
    from ui.cli import build_parser

    args = build_parser().parse_args(["review", "call.wav", "--agent-channel", "right", "--mono"])
    assert (args.agent_channel, args.customer_channel, args.swap, args.mono) == (1, None, False, True)


def sr_frames(seconds: float) -> int:
    return int(seconds * 16000)


@pytest.mark.parametrize("name, fmt, subtype", [("call.flac", "FLAC", "PCM_16"),
                                                ("call.ogg", "OGG", "VORBIS"),
                                                ("call.opus.ogg", "OGG", "OPUS"),
                                                ("call.mp3", "MP3", "MPEG_LAYER_III")])
def test_compressed_formats_give_the_events_of_the_wav(demo_call: Path, demo_report: dict,
                                                       tmp_path: Path, name: str, fmt: str,
                                                       subtype: str) -> None:
    if fmt not in sf.available_formats():
        pytest.skip(f"this libsndfile cannot write {fmt}")
    x, sr = sf.read(demo_call, dtype="float32")
    path = tmp_path / name
    sf.write(path, x, sr, format=fmt, subtype=subtype)
    out = tmp_path / "report.json"
    assert main(["analyze", str(path), "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert kinds(report) == kinds(demo_report)
    for party in ("agent", "customer"):
        assert report["summary"][party]["talk_s"] == pytest.approx(
            demo_report["summary"][party]["talk_s"], abs=1.0)


@pytest.mark.skipif(not have("ffmpeg") or not have("ffprobe"), reason="needs ffmpeg")
@pytest.mark.parametrize("name, codec", [("call.m4a", "aac"), ("call.mka", "flac")])
def test_formats_read_through_ffmpeg_give_the_events_of_the_wav(demo_call: Path, demo_report: dict,
                                                                tmp_path: Path, name: str,
                                                                codec: str) -> None:
    path = tmp_path / name
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(demo_call), "-c:a", codec, str(path)], check=True)
    out = tmp_path / "report.json"
    assert main(["analyze", str(path), "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    if codec == "flac":  # lossless in a Matroska file: the very same analysis
        assert report["frames"] == demo_report["frames"]
        assert report["events"] == demo_report["events"]
    assert kinds(report) == kinds(demo_report)
    for party in ("agent", "customer"):
        assert report["summary"][party]["talk_s"] == pytest.approx(
            demo_report["summary"][party]["talk_s"], abs=1.0)


def test_odd_but_valid_input_is_analysed(demo_call: Path, demo_report: dict, tmp_path: Path) -> None:
    x, sr = sf.read(demo_call, dtype="float32")
    odd = {
        "silence": np.zeros((sr * 5, 2), np.float32),
        "clipped": np.clip(x * 30, -1, 1),
        "dc": np.clip(x + 0.3, -1, 1),
    }
    nan = x.copy()
    nan[1000:1100, 0] = np.nan
    nan[5000:5010, 1] = np.inf
    for name, data in odd.items():
        path = write(tmp_path / f"{name}.wav", data, sr)
        result = run_cli("analyze", str(path), "--json", str(tmp_path / f"{name}.json"))
        assert result.returncode == 0, (name, result.stderr)
    path = write(tmp_path / "nan.wav", nan, sr, subtype="FLOAT")
    out = tmp_path / "nan.json"
    result = run_cli("analyze", str(path), "--json", str(out))
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert any("NaN" in note for note in report["notes"])
    assert kinds(report).count("interruption") == 2
    silence = json.loads((tmp_path / "silence.json").read_text())
    assert silence["events"] == [] and all(v is None for v in silence["frames"]["agent"]["momentary_lufs"])
    dc = json.loads((tmp_path / "dc.json").read_text())
    assert kinds(dc).count("interruption") == 2
    # One corrupt but finite float must not skew the whole call: it is silenced like a NaN.
    huge = x.copy()
    huge[5000, 0] = 1e30
    path = write(tmp_path / "huge.wav", huge, sr, subtype="FLOAT")
    out = tmp_path / "huge.json"
    result = run_cli("analyze", str(path), "--json", str(out))
    assert result.returncode == 0 and "Warning" not in result.stderr, result.stderr
    report = json.loads(out.read_text())
    assert any(note.startswith("1 ") and "treated as silence" in note for note in report["notes"])
    assert kinds(report) == kinds(demo_report)
    for party in ("agent", "customer"):
        for key in ("talk_s", "rate_sps"):
            assert report["summary"][party][key] == pytest.approx(demo_report["summary"][party][key],
                                                                  rel=0.02)


def test_block_size_does_not_change_the_result(demo_call: Path) -> None:
    from monitor.analysis import analyze_recording
    from monitor.audio_file import CallRecording

    with CallRecording(demo_call) as rec:
        a = analyze_recording(rec, block_s=1.0).to_json()
    with CallRecording(demo_call) as rec:
        b = analyze_recording(rec, block_s=0.0137).to_json()
    assert a["events"] == b["events"]
    assert a["frames"] == b["frames"]


def test_reading_ahead_in_a_thread_gives_what_one_thread_gives(demo_call: Path) -> None:
    from monitor.analysis import analyze_recording
    from monitor.audio_file import CallRecording
    from monitor.pipeline import CallPipeline

    with CallRecording(demo_call) as rec:
        report = analyze_recording(rec, block_s=3.0)
    with CallRecording(demo_call) as rec:
        pipeline = CallPipeline(rec.agent_sr_hz, rec.customer_sr_hz)
        frames = [frame for agent, customer in rec.blocks(3.0)
                  for frame in pipeline.process(agent, customer).frames]
        frames += pipeline.finish().frames
    assert report.frames.to_json() == pipeline.session.frames.to_json()
    assert len(frames) == len(report.frames.to_json()["t"])
    assert report.events == pipeline.session.events


def test_a_cancelled_analysis_leaves_no_reader_thread(demo_call: Path) -> None:
    import threading

    from monitor.analysis import AnalysisCancelled, analyze_recording
    from monitor.audio_file import CallRecording

    before = threading.active_count()
    calls: list[float] = []
    with CallRecording(demo_call) as rec, pytest.raises(AnalysisCancelled):
        analyze_recording(rec, progress=lambda done: calls.append(done) or len(calls) < 2, block_s=5.0)
    assert len(calls) == 2
    assert threading.active_count() == before


def test_numpy_math_stays_in_the_calling_thread() -> None:
    # OpenBLAS's idle workers spin; the command keeps it to one thread unless told otherwise.
    count_threads = ("import os, sys; from ui import cli; cli.use_one_blas_thread(); import numpy; "
                     "print(len(os.listdir('/proc/self/task')))")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if not Path("/proc/self/task").is_dir():
        pytest.skip("counting threads needs Linux's /proc")
    result = subprocess.run([sys.executable, "-c", count_threads], env=env, capture_output=True, text=True)
    assert result.stdout.strip() == "1", result.stderr
    env["OPENBLAS_NUM_THREADS"] = "2"
    result = subprocess.run([sys.executable, "-c", count_threads], env=env, capture_output=True, text=True)
    assert result.stdout.strip() == "2", result.stderr


def test_output_to_a_device_writes_through_it(demo_call: Path) -> None:
    # Replacing /dev/null with a regular file (atomic rename) would break the machine.
    result = run_cli("analyze", str(demo_call), "--json", "/dev/null", "--csv", "/dev/null")
    assert result.returncode == 0, result.stderr
    assert Path("/dev/null").is_char_device()


def test_outputs_never_overwrite_the_recording(demo_call: Path, tmp_path: Path) -> None:
    recording = tmp_path / "call.wav"
    recording.write_bytes(demo_call.read_bytes())
    link = tmp_path / "link.wav"
    link.symlink_to(recording)
    original = recording.read_bytes()
    for args, fragment in ((["--json", str(recording)], "is the recording being analysed"),
                           (["--csv", str(link)], "is the recording being analysed"),
                           (["--json", str(tmp_path / "out"), "--csv", str(tmp_path / "out")],
                            "is the --json output")):
        result = run_cli("analyze", str(recording), *args)
        assert result.returncode == 2 and fragment in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert recording.read_bytes() == original
    assert not (tmp_path / "out").exists()


def test_a_bad_output_folder_is_refused_before_the_analysis(demo_call: Path, tmp_path: Path) -> None:
    result = run_cli("analyze", str(demo_call), "--csv", str(tmp_path / "missing" / "events.csv"))
    assert result.returncode == 2 and "no such folder" in result.stderr
    assert result.stdout == ""  # no summary: nothing was analysed


def test_without_a_display_a_replay_is_analysed_in_the_terminal(demo_call: Path, monkeypatch) -> None:
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    result = run_cli("--replay", str(demo_call))
    assert result.returncode == 0, result.stderr
    assert f"analysing {demo_call} in the terminal" in result.stderr
    assert "interruption" in result.stdout
    missing = run_cli("--replay", str(demo_call.parent / "missing.wav"))
    assert missing.returncode == 2 and "no such file" in missing.stderr


@pytest.mark.parametrize("content, message", [(None, "no such file"), (b"", "the file is empty"),
                                              (b"hello\n", "not a readable audio file")])
def test_a_bad_replay_is_one_line_before_any_window_opens(tmp_path: Path, monkeypatch,
                                                         content: bytes | None, message: str) -> None:
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")  # a display: the window would open
    path = tmp_path / "call.wav"
    if content is not None:
        path.write_bytes(content)
    result = run_cli("--replay", str(path))
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"calmline: {path}: {message}") and result.stderr.count("\n") == 1


def test_review_of_a_missing_file_is_one_line(tmp_path: Path) -> None:
    result = run_cli("review", str(tmp_path / "missing.wav"))
    assert result.returncode == 2 and "missing.wav: no such file" in result.stderr


LONG_NAME = "a" * 300  # over the 255 bytes a file name may have


@pytest.fixture
def small_call(tmp_path: Path) -> Path:
    noise = np.random.default_rng(2).standard_normal((16000 * 2, 2)) * 0.05
    return write(tmp_path / "small.wav", noise)


@pytest.fixture
def locked_folder(tmp_path: Path, monkeypatch):
    """A folder that cannot be entered (mode 000), holding ``call.wav``.

    Modes do not stop root, so for root a look inside fails as it would for anyone else.
    """
    folder = tmp_path / "locked"
    folder.mkdir()
    (folder / "call.wav").write_bytes(b"RIFF")
    folder.chmod(0)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        real_stat = os.stat

        def stat(path, *args, **kwargs):
            if isinstance(path, (str, os.PathLike)) and os.fspath(path).startswith(f"{folder}{os.sep}"):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))
            return real_stat(path, *args, **kwargs)

        monkeypatch.setattr(os, "stat", stat)
    yield folder
    folder.chmod(0o700)


@pytest.fixture
def read_only_folder(tmp_path: Path, monkeypatch) -> Path:
    """A folder whose files can be read but where no file can be created."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # modes do not stop root
        def refuse(real):
            def create(*args, dir=None, **kwargs):  # noqa: A002 - tempfile's own name
                if dir is not None and Path(dir) == folder:
                    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(dir))
                return real(*args, dir=dir, **kwargs)
            return create

        for name in ("TemporaryFile", "mkstemp"):
            monkeypatch.setattr(tempfile, name, refuse(getattr(tempfile, name)))
    yield folder
    folder.chmod(0o755)


def _path_error_cases() -> list:
    long = f"{{tmp}}/{LONG_NAME}"
    too_long, denied, loop = "File name too long", "Permission denied", "Too many levels of symbolic links"
    unreadable = "you may not read this file"  # after "permission denied", for a recording
    return [
        (["analyze", f"{long}.wav"], f"{long}.wav", too_long),
        (["analyze", "{call}", "--json", f"{long}.json"], f"{long}.json", too_long),
        (["analyze", "{call}", "--csv", f"{long}.csv"], f"{long}.csv", too_long),
        (["analyze", "{call}", "--customer", f"{long}.wav"], f"{long}.wav", too_long),
        (["export", "--store", "{store}", "--json", f"{long}.json"], f"{long}.json", too_long),
        (["monitor", "--headless", "--replay", f"{long}.wav", "--fast", "--no-store"], f"{long}.wav",
         too_long),
        (["demo", "--out", f"{long}.wav"], f"{long}.wav", too_long),
        (["review", f"{long}.wav"], f"{long}.wav", too_long),
        (["analyze", "{locked}/call.wav"], "{locked}/call.wav", unreadable),
        (["analyze", "{call}", "--json", "{locked}/out.json"], "{locked}/out.json", denied),
        (["demo", "--out", "{locked}/demo.wav"], "{locked}/demo.wav", denied),
        (["review", "{locked}/call.wav"], "{locked}/call.wav", unreadable),
        (["analyze", "{call}", "--json", "{tmp}/loop"], "{tmp}/loop", loop),
        (["analyze", "{call}", "--csv", "{tmp}/loop"], "{tmp}/loop", loop),
    ]


@pytest.mark.parametrize("argv, path, reason", _path_error_cases())
def test_path_errors_name_the_path_and_the_reason(small_call: Path, locked_folder: Path, tmp_path: Path,
                                                  capsys, argv: list[str], path: str, reason: str) -> None:
    from models.store import CallStore

    store = tmp_path / "calls.sqlite3"
    CallStore(store).close()
    (tmp_path / "loop").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop")
    names = {"tmp": tmp_path, "call": small_call, "store": store, "locked": locked_folder}
    assert main([arg.format(**names) for arg in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"calmline: {path.format(**names)}: ") and err.endswith(f" ({reason})\n"), err
    assert err.count("\n") == 1


@pytest.mark.parametrize("argv, fragment", [
    (["analyze", "{call}", "--json", "-", "--csv", "-"], "only one of --json and --csv"),
    (["analyze", "{call}", "--json", ""], "an empty output file name"),
    (["analyze", "{call}", "--csv", ""], "an empty output file name"),
    (["export", "--store", "{store}", "--json", ""], "an empty output file name"),
    (["export", "--store", "{store}", "--csv", "-"], "--csv needs a path prefix"),
    (["export", "--store", "{store}", "--csv", ""], "--csv needs a path prefix"),
    (["demo", "--out", "{tmp}/demo.mp3"], "give a name ending in .wav"),
    (["demo", "--out", "{tmp}/demo.flac"], "give a name ending in .wav"),
    (["demo", "--out", "{tmp}/demo.txt"], "give a name ending in .wav"),
    (["demo", "--out", "{call}/demo.wav"], "cannot write (Not a directory)"),
    (["demo", "--out", "{read_only}/demo.wav"], "cannot write (Permission denied)"),
])
def test_nonsense_outputs_are_one_line_and_exit_2(small_call: Path, read_only_folder: Path,
                                                  tmp_path: Path, monkeypatch, capsys, argv: list[str],
                                                  fragment: str) -> None:
    from models.store import CallStore

    monkeypatch.chdir(tmp_path)  # "export --csv -" once wrote "--calls.csv" here

    store = tmp_path / "calls.sqlite3"
    CallStore(store).close()
    names = {"tmp": tmp_path, "call": small_call, "store": store, "read_only": read_only_folder}
    before = sorted(tmp_path.rglob("*"))
    assert main([arg.format(**names) for arg in argv]) == 2
    captured = capsys.readouterr()
    assert fragment in captured.err and captured.err.count("\n") == 1, captured.err
    assert captured.out == ""
    assert sorted(tmp_path.rglob("*")) == before  # nothing written, not even in the working folder


def test_a_read_only_output_folder_is_refused_before_the_analysis(small_call: Path, read_only_folder: Path,
                                                                  monkeypatch, capsys) -> None:
    def analyse(*args, **kwargs):
        raise AssertionError("the recording was analysed before the output was checked")

    monkeypatch.setattr("monitor.analysis.analyze_recording", analyse)
    for option in ("--json", "--csv"):
        assert main(["analyze", str(small_call), option, str(read_only_folder / "out")]) == 2
        assert capsys.readouterr().err == (f"calmline: {read_only_folder / 'out'}: cannot write "
                                           "(Permission denied)\n")


@pytest.mark.parametrize("argv", [["--replay", "{call}", "analyze", "{call}"],
                                  ["--replay", "{call}", "monitor", "--headless", "--no-store"],
                                  ["--replay", "{call}", "--fast", "demo"]])
def test_the_app_replay_is_not_combined_with_a_command(small_call: Path, argv: list[str]) -> None:
    result = run_cli(*[arg.format(call=small_call) for arg in argv])
    assert result.returncode == 2 and result.stdout == ""
    assert "--replay opens the app and cannot be combined with a command" in result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("argv", [["analyze", "{call}"], ["analyze", "{call}", "--json", "-"],
                                  ["export", "--store", "{store}", "--json", "-"], ["--diagnostics"],
                                  ["devices"]])
def test_a_full_disk_on_stdout_is_one_line(small_call: Path, tmp_path: Path, argv: list[str]) -> None:
    from models.store import CallStore

    store = tmp_path / "calls.sqlite3"
    CallStore(store).close()
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "ui.cli",
                                 *[arg.format(call=small_call, store=store) for arg in argv]],
                                stdout=full, stderr=subprocess.PIPE, text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    assert result.stderr.endswith("calmline: cannot write to standard output (No space left on device)\n")
    assert "internal error" not in result.stderr and "Exception ignored" not in result.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="closes a POSIX file descriptor")
@pytest.mark.parametrize("argv", [["analyze", "{call}", "--json", "-"],
                                  ["export", "--store", "{store}", "--json", "-"]])
def test_a_closed_stdout_is_one_line(small_call: Path, tmp_path: Path, argv: list[str]) -> None:
    from models.store import CallStore

    store = tmp_path / "calls.sqlite3"
    CallStore(store).close()
    result = subprocess.run([sys.executable, "-m", "ui.cli",
                             *[arg.format(call=small_call, store=store) for arg in argv]],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=300,
                            preexec_fn=lambda: os.close(1))
    assert result.returncode == 2
    assert result.stderr == "calmline: standard output is closed; give a file name instead of -\n"


@pytest.fixture
def user_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch home with a display: the user's settings, call log and IT policy live under it."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(name, str(home / name.lower()))
    monkeypatch.setenv("CALMLINE_POLICY", str(home / "policy.toml"))
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")  # a display: the window would open
    return home


@pytest.fixture
def reviews(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """What each review window would have been opened with, instead of opening it."""
    opened: list[dict] = []

    def run_review(path: Path | None, channels=None, customer_path: Path | None = None,
                   **options: object) -> int:
        opened.append(dict(path=path, channels=channels, customer_path=customer_path, **options))
        return 0

    monkeypatch.setattr("ui.review_window.run_review", run_review)
    return opened


def user_settings(text: str) -> Path:
    from models.app_settings import default_settings_path

    path = default_settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize("make, argv, message", [
    (lambda d: (d / "noise.wav").write_bytes(os.urandom(4000)) and d / "noise.wav", [],
     "not a readable audio file"),
    (lambda d: d, [], "is a folder"),
    # Channel options that leave a party open are refused, as by analyze.
    (lambda d: write(d / "six.wav", np.zeros((16000, 6))), ["--customer-channel", "2"], "--agent-channel N"),
    (lambda d: write(d / "six.wav", np.zeros((16000, 6))), ["--customer", "{tmp}"], "--agent-channel N"),
    (lambda d: write(d / "stereo.wav", np.zeros((16000, 2))), ["--agent-channel", "5"], "no channel 5"),
    (lambda d: write(d / "stereo.wav", np.zeros((16000, 2))), ["--customer", "{tmp}"], "is a folder"),
])
def test_review_refuses_a_file_it_cannot_use_before_any_window(tmp_path: Path, user_home: Path,
                                                               reviews: list[dict], capsys, make,
                                                               argv: list[str], message: str) -> None:
    path = make(tmp_path)
    assert main(["review", str(path), *[arg.format(tmp=tmp_path) for arg in argv]]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert reviews == []
    assert main(["review", str(write(tmp_path / "good.wav", np.zeros((16000, 2))))]) == 0
    assert len(reviews) == 1


def test_review_of_many_channels_without_channel_options_lets_the_window_ask(
        tmp_path: Path, user_home: Path, reviews: list[dict]) -> None:
    from monitor.audio_file import ChannelChoice

    quad = write(tmp_path / "quad.wav", np.zeros((16000, 4)))
    assert main(["review", str(quad)]) == 0
    assert reviews[-1]["channels"] == ChannelChoice()  # the window then asks, as File ▸ Open does
    assert main(["review", str(quad), "--agent-channel", "3", "--customer-channel", "4"]) == 0
    assert reviews[-1]["channels"] == ChannelChoice(agent_channel=2, customer_channel=3)
    assert main(["review", str(quad), "--mono"]) == 0
    assert reviews[-1]["channels"] == ChannelChoice(mono=True)


def test_review_analyses_with_the_users_settings_and_lists_the_users_log(
        tmp_path: Path, user_home: Path, reviews: list[dict]) -> None:
    from models.store import default_store_path

    user_settings("[rules]\nraised_voice_lu = 3.0\nraised_voice_release_lu = 2.0\n")
    call = write(tmp_path / "call.wav", np.zeros((16000, 2)))
    assert main(["review", str(call)]) == 0
    assert reviews[-1]["settings"].raised_voice_lu == 3.0
    assert reviews[-1]["store_path"] == default_store_path()
    assert user_home in reviews[-1]["store_path"].parents
    assert main(["review", str(call), "--set", "raised_voice_lu=5"]) == 0  # as analyze takes it
    assert reviews[-1]["settings"].raised_voice_lu == 5.0


def test_review_follows_the_it_policy(tmp_path: Path, user_home: Path, reviews: list[dict],
                                      capsys) -> None:
    (user_home / "policy.toml").write_text('locked = ["rules.raised_voice_lu"]\n'
                                           '[rules]\nraised_voice_lu = 8.0\n')
    user_settings("[rules]\nraised_voice_lu = 3.0\nraised_voice_release_lu = 2.0\n")
    call = write(tmp_path / "call.wav", np.zeros((16000, 2)))
    assert main(["review", str(call)]) == 0
    assert reviews[-1]["settings"].raised_voice_lu == 8.0
    capsys.readouterr()
    assert main(["review", str(call), "--set", "raised_voice_lu=5"]) == 2
    err = capsys.readouterr().err
    assert "locked by your IT department's policy" in err and err.count("\n") == 1, err
    assert len(reviews) == 1


def test_a_broken_settings_file_stops_review_as_it_stops_analyze(tmp_path: Path, user_home: Path,
                                                                 reviews: list[dict], capsys) -> None:
    settings = user_settings("[rules\n")
    call = write(tmp_path / "call.wav", np.zeros((16000, 2)))
    assert main(["analyze", str(call)]) == 2
    said = capsys.readouterr().err
    assert said.startswith(f"calmline: {settings}") and said.count("\n") == 1, said
    assert main(["review", str(call)]) == 2
    assert capsys.readouterr().err == said
    assert reviews == []


def test_demo_analyses_the_demo_call_the_installed_app_bundles(demo_call: Path, tmp_path: Path,
                                                               monkeypatch, capsys) -> None:
    from ui.demo_call import BUNDLED_DEMO_ENV

    # The frozen app points at its ready-made demo call, kept as FLAC.
    bundled = tmp_path / "demo_call.flac"
    x, sr = sf.read(demo_call, dtype="float32")
    sf.write(bundled, x, sr)
    monkeypatch.setenv(BUNDLED_DEMO_ENV, str(bundled))
    assert main(["demo"]) == 0
    assert "Interruptions  2" in capsys.readouterr().out


# Sends SIGINT to the process itself the moment the command line starts loading, the
# same as Ctrl-C pressed while numpy and the rest are still being imported.
_CTRL_C_WHILE_LOADING = """
import importlib.abc, os, signal, sys

class CtrlC(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "ui.cli":
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, CtrlC())
from ui.entry import main
sys.exit(main())
"""


def test_ctrl_c_while_the_command_is_still_loading_ends_quietly() -> None:
    result = subprocess.run([sys.executable, "-c", _CTRL_C_WHILE_LOADING, "--help"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 130
    assert result.stderr == "calmline: interrupted\n"


def test_the_installed_command_runs_through_the_entry_module() -> None:
    from importlib.metadata import entry_points
    (command,) = [e for e in entry_points(group="console_scripts") if e.name == "calmline"]
    assert command.value == "ui.entry:main"
