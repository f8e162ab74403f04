"""The ``calmline`` command line.

Every failure the user can cause (a missing file, a bad option, an
unwritable output) ends with one line on stderr and exit code 2; nothing
prints a traceback unless ``--verbose`` asks for it. When the program
reading our standard output stops early (``| head``), the command ends
quietly with exit code 141, as a shell reports for SIGPIPE.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

from models.errors import UserError
from models.policy import load_effective_settings, load_policy
from models.report import write_events_csv
from models.settings import RuleSettings, SettingsError
from models.store import default_store_path
from ui.diagnostics import calmline_version, diagnostics_report
from ui.logging_setup import configure_logging
from ui.monitor_command import add_monitor_parser, run_devices, run_export, run_monitor
from ui.output_files import (OutputError, StdoutError, check_output_target, stdout_errors,
                             write_text_output)
from ui.summary_text import format_summary

if TYPE_CHECKING:
    from monitor.audio_file import ChannelChoice

logger = logging.getLogger("calmline")

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_READER_GONE = 141  # what a shell reports for a program stopped by SIGPIPE


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"calmline: {message} (see 'calmline {self.prog.split()[-1]} --help')\n"
                  if " " in self.prog else f"calmline: {message} (see 'calmline --help')\n")


def _channel(text: str) -> int:
    names = {"left": 1, "right": 2}
    try:
        number = names.get(text.lower()) or int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a channel (use 1, 2, ... or left/right)") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"channels are numbered from 1, not {number}")
    return number - 1


def _setting(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"'{text}' is not NAME=VALUE")
    return name.strip(), value.strip()


def _add_channel_options(p: argparse._ActionsContainer, prefix: str = "") -> None:
    # The app's own options get their own names (``prefix``): a subcommand's defaults
    # would otherwise overwrite them, and "calmline --swap analyze F" would drop --swap.
    p.add_argument("--agent-channel", metavar="N", type=_channel, dest=f"{prefix}agent_channel",
                   help="channel of the agent (1-based, or left/right; default: left)")
    p.add_argument("--customer-channel", metavar="N", type=_channel, dest=f"{prefix}customer_channel",
                   help="channel of the customer (default: right)")
    p.add_argument("--swap", action="store_true", dest=f"{prefix}swap",
                   help="agent on the right, customer on the left")
    p.add_argument("--mono", action="store_true", dest=f"{prefix}mono",
                   help="analyse the agent only (customer cues are then off)")


def _channel_choice(args: argparse.Namespace, prefix: str = "") -> ChannelChoice:
    from monitor.audio_file import ChannelChoice

    return ChannelChoice(getattr(args, f"{prefix}agent_channel"), getattr(args, f"{prefix}customer_channel"),
                         getattr(args, f"{prefix}swap"), getattr(args, f"{prefix}mono"))


def _add_analysis_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--customer", metavar="FILE", type=Path,
                   help="a separate recording of the customer's side")
    _add_channel_options(p)
    p.add_argument("--json", metavar="PATH", help="write the full analysis as JSON (- for stdout)")
    p.add_argument("--csv", metavar="PATH", help="write the events as CSV (- for stdout)")
    _add_set_option(p)


def _add_set_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", metavar="NAME=VALUE", type=_setting, action="append", default=[],
                   help="override a rule setting, e.g. --set raised_voice_lu=8")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``calmline`` command."""
    parser = _Parser(prog="calmline", description="CalmLine: a quiet coach for phone calls.")
    parser.add_argument("--version", action="version", version=f"calmline {calmline_version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    parser.add_argument("--diagnostics", action="store_true",
                        help="print what a helpdesk needs: versions, devices, paths, IT policy")
    # Named apart from "monitor --replay/--fast", whose defaults would otherwise hide these.
    parser.add_argument("--replay", metavar="FILE", type=Path, dest="app_replay",
                        help="open the app driven by a recording instead of devices (demo mode)")
    parser.add_argument("--fast", action="store_true", dest="app_fast",
                        help="with --replay: as fast as possible")
    parser.add_argument("--store", metavar="PATH", type=Path, dest="app_store",
                        help="with --replay: log the replayed calls in this call log (a replay "
                             "is not one of your calls, so it is not logged otherwise)")
    _add_channel_options(parser.add_argument_group("with --replay, which channel is whose"), "replay_")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    analyze = sub.add_parser("analyze", help="analyse a call recording",
                             description="Analyse a recorded call and summarise the coaching cues.")
    analyze.add_argument("file", metavar="FILE", type=Path,
                         help="the recording: stereo (agent left, customer right) or mono (agent only)")
    _add_analysis_options(analyze)
    demo = sub.add_parser("demo", help="analyse the bundled demo call",
                          description="Render the scripted demo call (espeak-ng) and analyse it.")
    demo.add_argument("--out", metavar="PATH", type=Path,
                      help="where to keep the demo call (default: the user cache folder)")
    demo.add_argument("--json", metavar="PATH", help="write the full analysis as JSON (- for stdout)")
    demo.add_argument("--csv", metavar="PATH", help="write the events as CSV (- for stdout)")
    review = sub.add_parser("review", help="review a recorded call in a window",
                            description="Open a recording in the review window (trainees and coaches).")
    review.add_argument("file", metavar="FILE", type=Path, nargs="?", help="the recording to open")
    review.add_argument("--customer", metavar="FILE", type=Path,
                        help="a separate recording of the customer's side")
    _add_channel_options(review)
    _add_set_option(review)
    add_monitor_parser(sub, _channel)
    return parser


def _settings_from(overrides: list[tuple[str, str]]) -> RuleSettings:
    """The rules in effect (user settings under the IT policy), with this run's overrides.

    Starting from the same settings as live monitoring keeps ``analyze`` and a
    replay through the live path in agreement.
    """
    policy = load_policy()
    current = load_effective_settings(None, policy).rules.to_dict()
    values = dict(current)
    for name, raw in overrides:
        if name not in current:
            raise SettingsError(f"unknown setting '{name}'")
        if policy.is_locked("rules", name):
            raise SettingsError(f"setting '{name}' is locked by your IT department's policy")
        values[name] = _parse_value(name, raw, current[name])
    settings = RuleSettings.from_dict(values)
    settings.validate()
    return settings


def _parse_value(name: str, raw: str, default: object) -> object:
    try:
        if isinstance(default, bool):
            if raw.lower() not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
                raise ValueError
            return raw.lower() in ("true", "1", "yes", "on")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError:
        raise SettingsError(f"setting '{name}' needs a {type(default).__name__}, not '{raw}'") from None
    return raw


def _run_analysis(path: Path, choice: ChannelChoice, customer: Path | None,
                  settings: RuleSettings, json_target: str | None, csv_target: str | None) -> int:
    from monitor.analysis import analyze_recording
    from monitor.audio_file import CallRecording

    inputs = {path: "the recording being analysed"}
    if customer is not None:
        inputs[customer] = "the customer's recording"
    if json_target == "-" and csv_target == "-":  # the two would be mixed up in one stream
        raise OutputError("only one of --json and --csv can go to standard output (-)")
    if json_target is not None:
        check_output_target(json_target, inputs, replaces=(".json",))
    if csv_target is not None:
        others = dict(inputs)
        if json_target is not None and json_target != "-":
            others[Path(json_target)] = "the --json output"
        check_output_target(csv_target, others, replaces=(".csv",))
    with CallRecording(path, choice, customer) as recording:
        report = analyze_recording(recording, settings)
    if json_target is not None:
        write_text_output(json_target, lambda f: _dump_json(report.to_json(), f))
    if csv_target is not None:
        write_text_output(csv_target, lambda f: write_events_csv(report.events, f))
    text = format_summary(report)
    if "-" in (json_target, csv_target):
        print(text, file=sys.stderr)
    else:
        with stdout_errors():
            print(text)
    return EXIT_OK


def _dump_json(data: dict, stream: IO[str]) -> None:
    # One string: json.dumps encodes in C, json.dump in Python, five times slower
    # for an hour's frames; the text is a few MB at most.
    stream.write(json.dumps(data, separators=(",", ":"), allow_nan=False))
    stream.write("\n")


def _command_analyze(args: argparse.Namespace) -> int:
    return _run_analysis(args.file, _channel_choice(args), args.customer, _settings_from(args.set),
                         args.json, args.csv)


def has_display() -> bool:
    """Whether a window can be shown (a desktop session, or a platform chosen explicitly)."""
    if sys.platform in ("win32", "darwin") or os.environ.get("QT_QPA_PLATFORM"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _command_app(args: argparse.Namespace) -> int:
    choice = _channel_choice(args, "replay_")
    if args.app_replay is not None:
        _check_recording(args.app_replay, choice)  # said here, not in a window that opens for nothing
    if not has_display():
        if args.app_replay is not None:
            print(f"calmline: no display here; analysing {args.app_replay} in the terminal instead",
                  file=sys.stderr)
            return _run_analysis(args.app_replay, choice, None, _settings_from([]), None, None)
        print("calmline: no display here; analysing the demo call in the terminal instead",
              file=sys.stderr)
        return _command_demo(argparse.Namespace(out=None, json=None, csv=None))
    from ui.app import run_app  # Qt is loaded only for the window

    return run_app(replay=args.app_replay, fast=args.app_fast, channels=choice,
                   store_path=args.app_store, log_replays=args.app_store is not None)


def _check_recording(path: Path, choice: ChannelChoice, customer: Path | None = None) -> None:
    """Raise the one-line :class:`UserError` for a recording that cannot be replayed or reviewed."""
    from monitor.audio_file import CallRecording

    CallRecording(path, choice, customer).close()


def _command_review(args: argparse.Namespace) -> int:
    from monitor.audio_file import ChannelChoice, ChannelChoiceNeeded

    if args.customer is not None and args.file is None:
        raise UserError("--customer needs your recording too: calmline review FILE --customer FILE")
    # The window analyses with the same rules as 'analyze', so the two agree on a call.
    # Bad settings and unusable files are said here, not in a window that opens for nothing.
    settings = _settings_from(args.set)
    choice = _channel_choice(args)
    if args.file is not None:
        try:
            _check_recording(args.file.expanduser(), choice,
                             args.customer.expanduser() if args.customer is not None else None)
        except ChannelChoiceNeeded:
            # Given no channel option, the window asks which channel is whose, as it does
            # for File ▸ Open; options that leave it open are refused, as 'analyze' does.
            if args.customer is not None or choice != ChannelChoice():
                raise
    if not has_display():
        raise OutputError("the review window needs a display; use 'calmline analyze FILE' instead")
    from ui.review_window import run_review

    return run_review(args.file, choice, args.customer, settings=settings,
                      store_path=default_store_path())


def _command_demo(args: argparse.Namespace) -> int:
    from monitor.audio_file import ChannelChoice
    from ui.demo_call import default_demo_path, write_demo_call

    # The installed app bundles the demo call ready-made (as FLAC); rendered, it is a WAV.
    path = args.out or default_demo_path()
    if args.out is not None and path.suffix.lower() != ".wav":
        raise OutputError(f"{path}: the demo call is a WAV file; give a name ending in .wav")
    try:
        if not path.exists():
            if path.parent.exists():  # a folder it cannot write is said before the rendering
                check_output_target(path)
            logger.info("rendering the demo call to %s", path)
            write_demo_call(path)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror})") from None
    return _run_analysis(path, ChannelChoice(), None, _settings_from([]), args.json, args.csv)


COMMANDS = {"analyze": _command_analyze, "demo": _command_demo, "monitor": run_monitor,
            "devices": run_devices, "export": run_export, "review": _command_review}


def use_one_blas_thread() -> None:
    """Have numpy's OpenBLAS work in the calling thread only, unless the user said otherwise.

    The signal path runs in one thread by design. Left alone, OpenBLAS starts a
    worker per core for the speech-rate stage's small matrix products, and the
    workers spin between calls: over an hour's call that doubled the CPU time
    of ``calmline analyze`` (19.4 s against 9.9 s) and gained no wall time.
    OpenBLAS reads the setting when numpy loads, so this must run before then.
    """
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``calmline`` command; returns the exit code."""
    use_one_blas_thread()
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    if args.app_fast and args.app_replay is None:
        parser.error("--fast only applies to --replay")
    if args.app_store is not None and args.app_replay is None:
        parser.error("--store only applies to --replay here; put it after the command to use it "
                     "with it")
    if args.app_replay is None and (args.replay_agent_channel is not None or args.replay_customer_channel
                                is not None or args.replay_swap or args.replay_mono):
        parser.error("--agent-channel, --customer-channel, --swap and --mono apply to --replay here; "
                     "put them after the command to use them with it")
    if args.diagnostics and args.command is not None:
        parser.error("--diagnostics takes no command")
    if args.app_replay is not None and args.command is not None:
        parser.error("--replay opens the app and cannot be combined with a command")
    try:
        if args.diagnostics:
            with stdout_errors():
                print(diagnostics_report(), end="")
            code = EXIT_OK
        elif args.command is None:
            code = _command_app(args)
        else:
            code = COMMANDS[args.command](args)
        if sys.stdout is not None:
            with stdout_errors():  # a full disk is reported now, not by the flush at exit
                sys.stdout.flush()
        return code
    except StdoutError as exc:
        _discard_stdout()  # the output still buffered would fail again at exit
        print(f"calmline: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except UserError as exc:
        print(f"calmline: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("calmline: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of our output (say `| head`) has stopped reading: that is
        # its choice, not an error to report, so stop quietly like other tools.
        _discard_stdout()
        return EXIT_READER_GONE
    except Exception as exc:  # the last line of defence: never a traceback for the user
        logger.debug("internal error", exc_info=True)
        print(f"calmline: internal error: {type(exc).__name__}: {exc} (run with --verbose for details)",
              file=sys.stderr)
        return EXIT_INTERNAL


def _discard_stdout() -> None:
    """Point stdout at /dev/null so that the flush at exit cannot fail again."""
    if sys.stdout is None:  # closed from the start: nothing is flushed at exit
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout is not a file descriptor (embedded or captured)
        pass


if __name__ == "__main__":
    sys.exit(main())
