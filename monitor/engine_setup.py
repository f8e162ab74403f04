"""From the user's settings and a request to what the engine needs: sources and options.

Both front ends (the headless monitor and the desktop app) start the engine
through :func:`build_engine_setup`, so they choose devices, replay,
recording and the saved profile the same way.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from platformdirs import user_data_path

from models.app_settings import AppSettings
from models.profile import AgentProfile
from monitor.audio_file import CallRecording, ChannelChoice
from monitor.capture import CaptureSource, FileReplaySource, PortAudioHost, make_source
from monitor.engine import EngineOptions

LIVE_SR_HZ = 16000
"""Capture rate for live devices: the analysis rate, so nothing is resampled."""


def default_recordings_dir() -> Path:
    """Where call recordings go when recording is on."""
    return user_data_path("calmline") / "recordings"


@dataclass(frozen=True)
class SourceRequest:
    """What to listen to, as asked on the command line (None: from the settings).

    Attributes
    ----------
    replay : Path or None
        A recording to feed through the live path instead of devices.
    fast : bool
        With ``replay``: as fast as possible.
    agent, customer : str or None
        Device specs overriding the settings.
    stereo_device : str or None
        One input carrying both parties (channels from ``channels``).
    mic_only : bool
        Ignore any customer device.
    channels : ChannelChoice
        Channel layout of the replayed file or the stereo device.
    """

    replay: Path | None = None
    fast: bool = False
    agent: str | None = None
    customer: str | None = None
    stereo_device: str | None = None
    mic_only: bool = False
    channels: ChannelChoice = field(default_factory=ChannelChoice)


@dataclass
class EngineSetup:
    """Sources and options ready for :class:`~monitor.engine.MonitorEngine`."""

    agent: CaptureSource
    customer: CaptureSource | None
    options: EngineOptions


def build_engine_setup(request: SourceRequest, settings: AppSettings, store_path: Path | None,
                       profile: AgentProfile | None = None, record: bool = False,
                       host: PortAudioHost | None = None) -> EngineSetup:
    """Open the sources and fill in the engine options.

    Parameters
    ----------
    request : SourceRequest
        Devices or replay, as asked.
    settings : AppSettings
        Saved devices, rules, segmentation and recording choice.
    store_path : Path or None
        The call log; None keeps none.
    profile : AgentProfile, optional
        The agent's calibration; ignored for a replay, which is judged on its own
        as ``calmline analyze`` judges it.
    record : bool
        Record calls even if the settings say not to, and even without a call
        log. The settings alone record only calls that are logged: a
        recording goes with its call's record, which retention and deleting
        the call also remove.
    host : PortAudioHost, optional
        The process's PortAudio host, shared with whatever else in the
        process uses PortAudio (the app's settings dialog and review
        playback); a new one by default.

    Raises
    ------
    AudioInputError
        The replayed file cannot be read.
    DeviceError
        A device spec cannot be understood.
    """
    stereo: tuple[int, int] | None = None
    customer: CaptureSource | None = None
    if request.replay is not None:
        agent: CaptureSource = FileReplaySource(CallRecording(request.replay, request.channels),
                                                fast=request.fast)
        stereo = (0, 1) if agent.channels == 2 else None
        profile = None
    else:
        host = host if host is not None else PortAudioHost()
        if request.stereo_device:
            choice = request.channels
            stereo = (choice.agent_channel or 0,
                      1 if choice.customer_channel is None else choice.customer_channel)
            agent = make_source(request.stereo_device, LIVE_SR_HZ, "call audio", host,
                                channels=max(stereo) + 1)
        else:
            agent = make_source(request.agent or settings.agent_device, LIVE_SR_HZ,
                                "microphone", host)
            customer_device = (None if request.mic_only
                               else request.customer or settings.customer_device or None)
            if customer_device:
                customer = make_source(customer_device, LIVE_SR_HZ, "customer audio", host)
    recording = record or (settings.recording_enabled and store_path is not None)
    options = EngineOptions(
        rules=settings.rules, segmentation=settings.segmentation, store_path=store_path,
        recording_dir=default_recordings_dir() if recording else None,
        profile=profile.baseline if profile else None,
        agent_level_dbfs=profile.speech_level_dbfs if profile else None,
        stereo_channels=stereo)
    return EngineSetup(agent, customer, options)
