"""Input devices: listing them, naming them stably, resolving a name to open.

A device is named in settings by a *spec string*:

``default``
    The system default input; on PulseAudio/PipeWire it follows default changes.
``pulse:<source name>``
    A PulseAudio or PipeWire source, monitors included (e.g.
    ``pulse:alsa_output.pci-0000_00_1f.3.analog-stereo.monitor``). Opened through
    PortAudio's ALSA ``pulse`` device with ``PULSE_SOURCE`` set while it opens.
``wasapi-loopback:<output device name>`` or ``wasapi-loopback:default``
    Windows only: what an output device plays, through pyaudiowpatch.
``<PortAudio name>, <host API>``, ``<PortAudio name>`` or ``<index>``
    A PortAudio input (a macOS BlackHole device is one of these). Indexes change
    when devices come and go; the name forms are the stable ones.

Any spec may end in ``#<channel>`` (0-based) to take one channel of a
multichannel device. A stereo device carrying both parties is better opened once
with two channels and split by the engine.

Only local commands are run (``pactl``); nothing goes to the network.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Literal, NamedTuple

import sounddevice as sd

from models.errors import UserError

logger = logging.getLogger(__name__)

PULSE_PREFIX = "pulse:"
WASAPI_LOOPBACK_PREFIX = "wasapi-loopback:"
PORTAUDIO_PULSE_DEVICE = "pulse"
PACTL_TIMEOUT_S = 2.0

DeviceKind = Literal["microphone", "monitor", "input"]
_MONITOR_WORDS = ("monitor", "loopback", "blackhole", "soundflower", "stereo mix", "what u hear")
_MICROPHONE_WORDS = ("mic", "headset", "webcam")


class DeviceError(UserError):
    """A device spec cannot be used; the message is one line for the user."""


class PortAudioDeviceMissing(DeviceError):
    """PortAudio's device list lacks the device; re-initialising PortAudio may find it.

    PortAudio enumerates devices once, at initialisation, so a device plugged
    in (or a sound server started) later is not in the list until then.
    """


@dataclass(frozen=True)
class InputDevice:
    """One input a user can pick.

    Attributes
    ----------
    name : str
        Stable spec string to store in settings and pass to a capture source.
    label : str
        Human-readable description.
    kind : {'microphone', 'monitor', 'input'}
        'monitor' captures what an output plays (the softphone's far end);
        'microphone' is a recognisable microphone; 'input' is anything else.
        Guessed from names and PulseAudio properties.
    default : bool
        Whether this is the current system default input.
    max_channels : int
        Input channels the device offers.
    default_sr_hz : float
        The device's preferred sample rate in Hz.
    host_api : str
        'PulseAudio' for ``pulse:`` devices, otherwise the PortAudio host API.
    """

    name: str
    label: str
    kind: DeviceKind
    default: bool
    max_channels: int
    default_sr_hz: float
    host_api: str


@dataclass(frozen=True)
class DeviceSpec:
    """A parsed device spec string.

    Attributes
    ----------
    kind : {'default', 'pulse', 'wasapi-loopback', 'portaudio'}
        Which backend resolves ``target``.
    target : str or int
        Source name, output name, PortAudio name, or PortAudio index.
    channel : int or None
        0-based channel to take from the device; None takes the leading channels.
    text : str
        The spec as written (with any ``#channel`` suffix).
    """

    kind: Literal["default", "pulse", "wasapi-loopback", "portaudio"]
    target: str | int
    channel: int | None
    text: str


@dataclass(frozen=True)
class PulseSource:
    """A PulseAudio/PipeWire source as ``pactl`` reports it.

    Attributes
    ----------
    index : int
        Server-side index; a reloaded device gets a new one.
    name : str
        Source name, stable across reloads.
    description : str
        Human-readable description.
    channels : int
        Channels of the source's native sample spec.
    sr_hz : float
        Native sample rate in Hz.
    is_monitor : bool
        Whether the source is the monitor of a sink.
    is_microphone : bool
        Whether PulseAudio describes it as a microphone or headset.
    """

    index: int
    name: str
    description: str
    channels: int
    sr_hz: float
    is_monitor: bool
    is_microphone: bool


@dataclass(frozen=True)
class OpenTarget:
    """What a PortAudio stream needs to open a spec.

    Attributes
    ----------
    device : int
        PortAudio device index (valid until PortAudio is re-initialised).
    environment : dict of str to str
        Variables that must be set while the stream opens (``PULSE_SOURCE``).
    pulse_source : str or None
        The PulseAudio source the stream must stay on; None when the stream may
        follow the server's routing (the default device).
    max_channels : int
        Input channels PortAudio offers for the device.
    label : str
        Description for logs and status lines.
    """

    device: int
    environment: dict[str, str]
    pulse_source: str | None
    max_channels: int
    label: str


def parse_device_spec(text: str) -> DeviceSpec:
    """Parse a device spec string (see the module docstring).

    Raises
    ------
    DeviceError
        For an empty spec or a malformed channel suffix.
    """
    stripped = text.strip()
    channel: int | None = None
    head, sep, tail = stripped.rpartition("#")
    if sep and tail.isdigit() and head:
        stripped, channel = head, int(tail)
    if not stripped:
        raise DeviceError(f"empty device name {text!r}")
    if stripped == "default":
        return DeviceSpec("default", "default", channel, text)
    if stripped.startswith(PULSE_PREFIX):
        name = stripped[len(PULSE_PREFIX):]
        if not name:
            raise DeviceError(f"{text!r}: no PulseAudio source name after 'pulse:'")
        return DeviceSpec("pulse", name, channel, text)
    if stripped.startswith(WASAPI_LOOPBACK_PREFIX):
        return DeviceSpec("wasapi-loopback", stripped[len(WASAPI_LOOPBACK_PREFIX):] or "default",
                          channel, text)
    if stripped.isdigit():
        return DeviceSpec("portaudio", int(stripped), channel, text)
    return DeviceSpec("portaudio", stripped, channel, text)


def _pactl(*args: str) -> str | None:
    """Run pactl with C locale; None if it is missing, fails or hangs."""
    exe = shutil.which("pactl")
    if exe is None:
        return None
    env = dict(os.environ, LC_ALL="C")
    try:
        done = subprocess.run([exe, *args], capture_output=True, text=True, env=env,
                              timeout=PACTL_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        logger.debug("pactl %s failed: %s", " ".join(args), exc)
        return None
    if done.returncode != 0:
        logger.debug("pactl %s exited %d: %s", " ".join(args), done.returncode,
                      done.stderr.strip())
        return None
    return done.stdout


_SPEC_RE = re.compile(r"(\d+)ch\s+(\d+)Hz")


def _parse_sample_spec(text: str) -> tuple[int, float]:
    match = _SPEC_RE.search(text)
    return (int(match.group(1)), float(match.group(2))) if match else (0, 0.0)


def pulse_sources() -> list[PulseSource]:
    """Every source of the PulseAudio/PipeWire server, monitors included.

    Returns an empty list when there is no ``pactl`` or no server.
    """
    raw = _pactl("-f", "json", "list", "sources")
    if raw is not None:
        try:
            return [_pulse_source_from_json(entry) for entry in json.loads(raw)]
        except (ValueError, KeyError, TypeError) as exc:
            logger.debug("unexpected pactl JSON, falling back to short list: %s", exc)
    raw = _pactl("list", "short", "sources")
    if raw is None:
        return []
    sources = []
    for line in raw.splitlines():
        fields = line.split("\t")
        if len(fields) < 4 or not fields[0].isdigit():
            continue
        channels, sr_hz = _parse_sample_spec(fields[3])
        name = fields[1]
        sources.append(PulseSource(int(fields[0]), name, name, channels, sr_hz,
                                   name.endswith(".monitor"), False))
    return sources


def _pulse_source_from_json(entry: dict) -> PulseSource:
    properties = entry.get("properties") or {}
    channels, sr_hz = _parse_sample_spec(entry.get("sample_specification", ""))
    name = entry["name"]
    form_factor = properties.get("device.form_factor", "")
    port = entry.get("active_port") or ""
    return PulseSource(
        index=int(entry["index"]),
        name=name,
        description=entry.get("description") or name,
        channels=channels,
        sr_hz=sr_hz,
        is_monitor=properties.get("device.class") == "monitor" or name.endswith(".monitor"),
        is_microphone=form_factor in ("microphone", "headset", "webcam") or "mic" in port.lower(),
    )


def pulse_default_source() -> str | None:
    """Name of the server's default source, or None without a server."""
    raw = _pactl("get-default-source")
    if raw is None:
        return None
    return raw.strip() or None


class PulseStreamRoute(NamedTuple):
    """Where a recording stream is on the sound server.

    Attributes
    ----------
    stream_index : int
        The stream's own index (its ``source-output``).
    source_index : int
        Index of the source it records from.
    """

    stream_index: int
    source_index: int


def pulse_stream_route(property_name: str, property_value: str) -> PulseStreamRoute | None:
    """Which source a recording stream tagged with a client property is on.

    Parameters
    ----------
    property_name, property_value : str
        A property set through ``PULSE_PROP`` when the stream was opened.

    Returns
    -------
    PulseStreamRoute or None
        The stream's index and its source's; None when no such stream exists
        (e.g. the server restarted) or ``pactl`` cannot be asked.
    """
    raw = _pactl("-f", "json", "list", "source-outputs")
    if raw is not None:
        try:
            for entry in json.loads(raw):
                if (entry.get("properties") or {}).get(property_name) == property_value:
                    return PulseStreamRoute(int(entry["index"]), int(entry["source"]))
            return None
        except (ValueError, KeyError, TypeError) as exc:
            logger.debug("unexpected pactl JSON, falling back to text: %s", exc)
    raw = _pactl("list", "source-outputs")
    if raw is None:
        return None
    wanted = f'{property_name} = "{property_value}"'
    stream: int | None = None
    source: int | None = None
    for line in raw.splitlines():
        stripped = line.strip()
        if stripped.startswith("Source Output #"):
            value = stripped.removeprefix("Source Output #")
            stream, source = (int(value) if value.isdigit() else None), None
        elif stripped.startswith("Source:"):
            value = stripped.split(":", 1)[1].strip()
            source = int(value) if value.isdigit() else None
        elif stripped == wanted:
            return None if stream is None or source is None else PulseStreamRoute(stream, source)
    return None


def _portaudio_kind(name: str) -> DeviceKind:
    lowered = name.lower()
    if any(word in lowered for word in _MONITOR_WORDS):
        return "monitor"
    if any(word in lowered for word in _MICROPHONE_WORDS):
        return "microphone"
    return "input"


def _portaudio_default_input() -> int:
    try:
        return int(sd.query_devices(kind="input")["index"])
    except (sd.PortAudioError, ValueError, KeyError):
        return -1


def _portaudio_inputs() -> list[tuple[int, dict, str]]:
    """(index, info, host API name) for every PortAudio device with inputs."""
    hostapis = sd.query_hostapis()
    return [(index, info, hostapis[info["hostapi"]]["name"])
            for index, info in enumerate(sd.query_devices())
            if info["max_input_channels"] > 0]


def list_input_devices() -> list[InputDevice]:
    """Every input CalmLine can capture from, with stable spec names.

    The first entry is ``default``. Then come, on Linux with a PulseAudio or
    PipeWire server, every source as ``pulse:<name>`` (monitors included),
    then the PortAudio inputs as ``<name>, <host API>``, then on Windows with
    pyaudiowpatch the WASAPI loopback devices.

    Returns
    -------
    list of InputDevice
    """
    default_index = _portaudio_default_input()
    portaudio = _portaudio_inputs()
    default_info = next((info for index, info, _ in portaudio if index == default_index), None)
    devices = [InputDevice(
        name="default",
        label=("System default input (follows changes)" if default_info else
               "System default input (none at the moment; follows changes)"),
        kind="input",
        default=True,
        max_channels=int(default_info["max_input_channels"]) if default_info else 0,
        default_sr_hz=float(default_info["default_samplerate"]) if default_info else 0.0,
        host_api="default",
    )]
    if sys.platform.startswith("linux"):
        default_source = pulse_default_source()
        for source in pulse_sources():
            kind: DeviceKind = ("monitor" if source.is_monitor
                                else "microphone" if source.is_microphone else "input")
            devices.append(InputDevice(
                name=PULSE_PREFIX + source.name,
                label=f"{source.description} ({source.name})",
                kind=kind,
                default=source.name == default_source,
                max_channels=source.channels,
                default_sr_hz=source.sr_hz,
                host_api="PulseAudio",
            ))
    for index, info, hostapi in portaudio:
        devices.append(InputDevice(
            name=f"{info['name']}, {hostapi}",
            label=info["name"],
            kind=_portaudio_kind(info["name"]),
            default=index == default_index,
            max_channels=int(info["max_input_channels"]),
            default_sr_hz=float(info["default_samplerate"]),
            host_api=hostapi,
        ))
    devices.extend(_wasapi_loopback_devices())
    return devices


def _wasapi_loopback_devices() -> list[InputDevice]:
    """WASAPI loopback inputs through pyaudiowpatch; empty elsewhere. Untested."""
    if sys.platform != "win32":
        return []
    try:
        import pyaudiowpatch
    except ImportError:
        return []
    audio = pyaudiowpatch.PyAudio()
    try:
        default_name = audio.get_default_wasapi_loopback()["name"]
    except (OSError, LookupError):
        default_name = None
    try:
        return [InputDevice(
            name=WASAPI_LOOPBACK_PREFIX + info["name"],
            label=f"Loopback of {info['name']}",
            kind="monitor",
            default=info["name"] == default_name,
            max_channels=int(info["maxInputChannels"]),
            default_sr_hz=float(info["defaultSampleRate"]),
            host_api="Windows WASAPI loopback",
        ) for info in audio.get_loopback_device_info_generator()]
    finally:
        audio.terminate()


def resolve_portaudio_input(spec: DeviceSpec) -> OpenTarget:
    """Find the PortAudio device for a ``default``, ``pulse:`` or PortAudio spec.

    Resolve again after every PortAudio re-initialisation: indexes change.

    Raises
    ------
    DeviceError
        With one line naming the unknown device and how to list the known ones.
    """
    hint = "run 'calmline devices' to list inputs"
    portaudio = _portaudio_inputs()
    if spec.kind == "default":
        index = _portaudio_default_input()
        match = [entry for entry in portaudio if entry[0] == index]
        if not match:
            raise PortAudioDeviceMissing(f"no default input device ({hint})")
        return _target(match[0], {}, None)
    if spec.kind == "pulse":
        if not sys.platform.startswith("linux"):
            raise DeviceError(f"{spec.text!r}: PulseAudio sources exist only on Linux")
        if spec.target not in {source.name for source in pulse_sources()}:
            raise DeviceError(f"no PulseAudio source named {spec.target!r} ({hint})")
        match = [entry for entry in portaudio if entry[1]["name"] == PORTAUDIO_PULSE_DEVICE]
        if not match:
            raise PortAudioDeviceMissing("PortAudio has no ALSA 'pulse' device (is the sound "
                                         "server running? is libasound2-plugins installed?)")
        return _target(match[0], {"PULSE_SOURCE": str(spec.target)}, str(spec.target))
    if spec.kind == "portaudio":
        if isinstance(spec.target, int):
            match = [entry for entry in portaudio if entry[0] == spec.target]
        else:
            wanted = spec.target.lower()
            match = [entry for entry in portaudio
                     if f"{entry[1]['name']}, {entry[2]}".lower() == wanted]
            if not match:
                match = [entry for entry in portaudio if entry[1]["name"].lower() == wanted]
        if len(match) > 1:
            apis = ", ".join(entry[2] for entry in match)
            raise DeviceError(f"input {spec.target!r} exists on several host APIs ({apis}); "
                              f"add one, e.g. '{match[0][1]['name']}, {match[0][2]}'")
        if not match:
            raise PortAudioDeviceMissing(f"no input device named {spec.target!r} ({hint})")
        return _target(match[0], {}, None)
    raise DeviceError(f"{spec.text!r} is not a PortAudio device")


def _target(entry: tuple[int, dict, str], environment: dict[str, str],
            pulse_source: str | None) -> OpenTarget:
    index, info, hostapi = entry
    label = f"PulseAudio source {pulse_source}" if pulse_source else f"{info['name']}, {hostapi}"
    return OpenTarget(index, environment, pulse_source, int(info["max_input_channels"]), label)
