"""``calmline monitor`` and ``calmline devices``: live monitoring without a window."""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import signal
import stat
import sys
import threading
import time
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from typing import TYPE_CHECKING

from models.app_settings import AppSettings
from models.errors import UserError
from models.policy import Policy, load_effective_settings, load_policy
from models.private_files import USER_ONLY, restrict_to_user
from models.store import CallStore, StoreError, default_store_path
from ui.output_files import OutputError, check_output_target, stdout_errors

if TYPE_CHECKING:
    from monitor.capture import CaptureSource
    from monitor.engine import MonitorEngine

# The audio stack (numpy, SciPy, PortAudio) is imported by the commands that
# use it, so that `calmline --version` and the window start without it.

logger = logging.getLogger(__name__)

class MonitorError(UserError):
    """Monitoring cannot start or failed; the message is one line for the user."""


def add_monitor_parser(sub: argparse._SubParsersAction, channel_type) -> None:
    """Register ``monitor`` and ``devices`` on the CLI's sub-parsers."""
    p = sub.add_parser("monitor", help="monitor calls live",
                       description="Monitor calls live and log every call, cue and breathing prompt.")
    p.add_argument("--headless", action="store_true", help="run without a window (required for now)")
    p.add_argument("--agent", metavar="DEVICE", help="the agent's microphone (see 'calmline devices')")
    p.add_argument("--customer", metavar="DEVICE",
                   help="the customer's side: a monitor/loopback source or a second input")
    p.add_argument("--stereo-device", metavar="DEVICE",
                   help="one stereo input carrying both parties (see --agent-channel)")
    p.add_argument("--mic-only", action="store_true", help="ignore any saved customer device")
    p.add_argument("--replay", metavar="FILE", type=Path,
                   help="feed a recording through the live path instead of devices")
    p.add_argument("--fast", action="store_true", help="with --replay: as fast as possible")
    p.add_argument("--agent-channel", metavar="N", type=channel_type,
                   help="channel of the agent in --replay or --stereo-device (default 1)")
    p.add_argument("--customer-channel", metavar="N", type=channel_type,
                   help="channel of the customer in --replay or --stereo-device (default 2)")
    p.add_argument("--swap", action="store_true", help="with --replay: agent right, customer left")
    p.add_argument("--mono", action="store_true", help="with --replay: agent only")
    p.add_argument("--duration", metavar="S", type=float, help="stop after S seconds")
    p.add_argument("--events-jsonl", metavar="PATH",
                   help="write events and status changes as JSON lines (- for stdout)")
    p.add_argument("--record", action="store_true",
                   help="record each call as a stereo FLAC (overrides the saved setting)")
    p.add_argument("--store", metavar="PATH", type=Path,
                   help="the call log (default: user data folder; a --replay is logged only "
                        "in a call log named here)")
    p.add_argument("--no-store", action="store_true", help="keep no call log")
    p.add_argument("--settings", metavar="PATH", type=Path, help="settings file (default: user config)")
    e = sub.add_parser("export", help="export the call log",
                       description="Export logged calls with their events and breathing prompts.")
    e.add_argument("--json", metavar="PATH", help="calls, events and prompts as JSON (- for stdout)")
    e.add_argument("--csv", metavar="PREFIX",
                   help="three CSV files: PREFIX-calls.csv, PREFIX-events.csv and "
                        "PREFIX-prompts.csv (breathing offers), or calls.csv, events.csv and "
                        "prompts.csv in PREFIX when it is a folder or ends with /")
    e.add_argument("--store", metavar="PATH", type=Path, help="the call log (default: user data folder)")
    d = sub.add_parser("devices", help="list audio inputs",
                       description="List the audio inputs, with names to use in settings.")
    d.add_argument("--json", action="store_true", help="machine-readable output")


def run_devices(args: argparse.Namespace) -> int:
    """Print the inputs CalmLine can capture from."""
    from monitor.devices import list_input_devices

    devices = list_input_devices()
    with stdout_errors():
        if args.json:
            print(json.dumps([{"name": d.name, "label": d.label, "kind": d.kind, "default": d.default,
                               "max_channels": d.max_channels, "default_sr_hz": d.default_sr_hz,
                               "host_api": d.host_api} for d in devices], indent=2))
            return 0
        width = max((len(d.name) for d in devices), default=4)
        print(f"{'NAME':<{width}}  {'KIND':<10} LABEL")
        for d in devices:
            print(f"{d.name:<{width}}  {d.kind:<10} {d.label}{'  (default)' if d.default else ''}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    """Export the call log as JSON and/or CSV."""
    if args.json is None and args.csv is None:
        raise MonitorError("say what to export: --json PATH and/or --csv PREFIX")
    path = args.store or default_store_path()
    if not path.exists():
        raise MonitorError(f"{path}: no call log yet (monitor a call first)")
    keep: dict[Path, str] = {path: "the call log"}  # named before any other objection
    if args.json is not None:
        check_output_target(args.json, keep, replaces=(".json",))
        if args.json != "-":
            keep[Path(args.json)] = "the --json output"
    if args.csv is not None:
        csv_paths = _csv_export_paths(args.csv)
        for csv_path in csv_paths:
            check_output_target(csv_path, keep, replaces=(".csv",))
    with CallStore(path, read_only=True) as store:
        if args.json == "-":
            with stdout_errors():
                count = store.export_json(sys.stdout)
        elif args.json is not None:
            count = store.export_json(Path(args.json).expanduser())
        if args.csv is not None:
            calls_csv, events_csv, prompts_csv = csv_paths
            count = store.export_csv(calls_csv, events_csv, prompts_path=prompts_csv)
    print(f"exported {count} call(s)", file=sys.stderr)
    return 0


_CSV_EXPORT_PARTS = ("calls", "events", "prompts")


def _csv_export_paths(prefix_text: str) -> tuple[Path, ...]:
    """The calls, events and prompts files of ``export --csv PREFIX``.

    A folder (existing, or named with a trailing slash) gets ``calls.csv``,
    ``events.csv`` and ``prompts.csv`` inside it, rather than
    ``<folder>-calls.csv`` beside it.

    Raises
    ------
    OutputError
        For ``-`` or an empty prefix: three files cannot go to standard output.
    """
    if prefix_text in ("", "-"):
        raise OutputError("--csv needs a path prefix for its files (PREFIX-calls.csv, "
                          "PREFIX-events.csv and PREFIX-prompts.csv), not standard output; "
                          "use --json - for that")
    prefix = Path(prefix_text).expanduser()
    if prefix_text.endswith(("/", os.sep)) or os.path.isdir(prefix):
        return tuple(prefix / f"{part}.csv" for part in _CSV_EXPORT_PARTS)
    return tuple(prefix.with_name(f"{prefix.name}-{part}.csv") for part in _CSV_EXPORT_PARTS)


def _open_jsonl(target: str | None, stack: ExitStack) -> IO[str]:
    """Open the events log for appending; ``target`` has passed :func:`check_output_target`."""
    if target is None:
        return stack.enter_context(open(os.devnull, "w", encoding="utf-8"))
    if target == "-":
        return sys.stdout
    path = Path(target).expanduser()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, USER_ONLY)
    if stat.S_ISREG(os.fstat(fd).st_mode):
        # The mode above only applies to a new file; an older log may be readable by others.
        restrict_to_user(fd)
    return stack.enter_context(os.fdopen(fd, "a", encoding="utf-8"))


def _check_named_devices(args: argparse.Namespace) -> None:
    """Fail fast on a device named on the command line that does not exist.

    A saved or default device that is missing is treated like an unplugged
    headset (reported, retried every 2 s); a name typed for this run that
    matches nothing is far more likely a mistake.
    """
    for spec in (args.agent, args.customer, args.stereo_device):
        if spec and args.replay is None:
            from monitor.devices import parse_device_spec, resolve_portaudio_input

            parsed = parse_device_spec(spec)
            if parsed.kind != "wasapi-loopback":
                resolve_portaudio_input(parsed)


def _check_policy(args: argparse.Namespace, policy: Policy, settings: AppSettings) -> None:
    """Refuse an option that would override a setting the IT policy locks."""
    live = args.replay is None
    # Each option, whether it was given (and matters), and the settings it overrides.
    options = [("--record", args.record and not settings.recording_enabled, ("recording_enabled",)),
               ("--agent", live and args.agent, ("agent_device",)),
               ("--customer", live and args.customer, ("customer_device",)),
               ("--mic-only", live and args.mic_only, ("customer_device",)),
               ("--stereo-device", live and args.stereo_device,
                ("agent_device", "customer_device"))]
    refused = [option for option, given, names in options
               if given and any(policy.is_locked("general", name) for name in names)]
    if refused:
        raise MonitorError(f"{', '.join(refused)}: not allowed by your IT department's "
                           f"policy ({policy.source})")


def run_monitor(args: argparse.Namespace) -> int:
    """Run the engine until the duration ends, the replay ends, Ctrl-C or SIGTERM."""
    if not args.headless:
        raise MonitorError("the monitoring window is not available yet; use 'calmline monitor --headless'")
    if args.fast and args.replay is None:
        raise MonitorError("--fast only applies to --replay")
    if args.duration is not None and not (0 < args.duration < math.inf):
        raise MonitorError(f"--duration must be a positive number of seconds, not {args.duration:g}")
    if args.settings is not None and not args.settings.is_file():
        raise MonitorError(f"{args.settings}: no such settings file")
    policy = load_policy()
    settings = load_effective_settings(args.settings, policy)
    _check_policy(args, policy, settings)
    _check_named_devices(args)
    # A replay is not a call the agent took: it goes into a call log only when one is named.
    if args.no_store or (args.replay is not None and args.store is None):
        store_path = None
    else:
        store_path = args.store or default_store_path()
    if args.events_jsonl is not None:
        inputs = {args.replay: "the recording being replayed", store_path: "the call log",
                  args.settings: "the settings file"}
        check_output_target(args.events_jsonl, {p: what for p, what in inputs.items() if p is not None},
                            replaces=(".jsonl", ".ndjson", ".json", ".log"))
    if store_path is not None and settings.retention_days:
        _apply_retention(store_path, settings.retention_days)
    from models.profile import load_profile
    from monitor.audio_file import ChannelChoice
    from monitor.engine import MonitorEngine
    from monitor.engine_setup import SourceRequest, build_engine_setup
    from ui.jsonl_listener import JsonLinesListener

    request = SourceRequest(
        replay=args.replay, fast=args.fast, agent=args.agent, customer=args.customer,
        stereo_device=args.stereo_device, mic_only=args.mic_only,
        channels=ChannelChoice(args.agent_channel, args.customer_channel, args.swap, args.mono))
    with ExitStack() as stack:
        stream = _open_jsonl(args.events_jsonl, stack)
        setup = build_engine_setup(request, settings, store_path, load_profile(), args.record)
        engine = MonitorEngine(setup.agent, setup.customer, JsonLinesListener(stream), setup.options)
        return _run_until_done(engine, args.duration, setup.agent)


def _run_until_done(engine: MonitorEngine, duration_s: float | None, agent: CaptureSource) -> int:
    stop_requested = threading.Event()
    # Ctrl-C (SIGINT), logging out (SIGTERM) and a closed terminal or dropped SSH
    # session (SIGHUP) end the call and flush the log. Ctrl-C is not left to raise
    # KeyboardInterrupt: landing in Thread.join, it makes Python 3.11 take the engine
    # thread for finished, and the process would then exit while that thread is still
    # closing its streams, racing PortAudio's own shutdown into a hang.
    stop_signals = [signal.SIGINT, signal.SIGTERM]
    if hasattr(signal, "SIGHUP"):
        stop_signals.append(signal.SIGHUP)
    previous = {signum: signal.signal(signum, lambda *_: stop_requested.set())
                for signum in stop_signals}
    try:
        engine.start()
        deadline = None if duration_s is None else time.monotonic() + duration_s
        while engine.running and not stop_requested.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            stop_requested.wait(0.1)
        if stop_requested.is_set():
            logger.info("asked to stop: ending the call and flushing the log")
        engine.stop()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    from monitor.capture import FileReplaySource

    if isinstance(agent, FileReplaySource) and agent.error:
        raise MonitorError(agent.error)
    if engine.error is not None:
        raise MonitorError(f"monitoring stopped on an error: {engine.error}")
    return 0


def _apply_retention(store_path: Path, days: int) -> None:
    """Delete the calls older than ``days``; a log that cannot be opened is the engine's to report."""
    try:
        with CallStore(store_path) as store:
            removed = store.apply_retention(days, datetime.now(timezone.utc))
    except StoreError as exc:
        # Coaching does not need the log: the engine goes on without it and says so.
        logger.debug("retention not applied: %s", exc)
        return
    if removed:
        logger.info("retention: deleted %d call(s) older than %d days", removed, days)
