"""The human-readable summary that ``calmline analyze`` prints."""
from __future__ import annotations

from models.events import EventKind
from models.report import AnalysisReport

EVENT_LABELS = {
    EventKind.RAISED_VOICE: "raised voice",
    EventKind.FAST_SPEECH: "fast speech",
    EventKind.INTERRUPTION: "interruption",
    EventKind.MONOLOGUE: "monologue",
    EventKind.BREATHING_PROMPT: "breathing prompt",
}
TALK_MIN_S = 5.0
"""Less speech of a party than this, in seconds, is too little to judge their part of the
call by: a few words, noise the voice detector let through, or the wrong channel."""
CUE_OFF = "off (turned off in settings)"
"""What a summary shows for a count whose cue the settings turn off."""


def too_little_agent_speech(report: AnalysisReport) -> bool:
    """Whether the agent spoke too little in the recording for anything to be judged.

    Parameters
    ----------
    report : AnalysisReport
        The analysed call.

    Returns
    -------
    bool
        True when the agent's talk time is under :data:`TALK_MIN_S`.
    """
    return report.summary.agent.talk_s < TALK_MIN_S


def calm_verdict(report: AnalysisReport) -> str:
    """What a call without events says about the agent, in words.

    A call is called calm only when it could have been otherwise: with the
    agent's speech heard, their baseline calibrated and the raised-voice cue
    turned on.

    Parameters
    ----------
    report : AnalysisReport
        The analysed call.

    Returns
    -------
    str
        A phrase without a capital or final stop, to follow "No events: ".
    """
    if too_little_agent_speech(report) or not report.baseline.calibrated:
        return "too little of your speech to judge how calm the call was"
    if not report.rules.raised_voice_enabled:
        return "the raised-voice cue is turned off, so how calm the call was is not judged"
    return "a calm call"


def clock(seconds: float) -> str:
    """Format a time as ``m:ss.s``, or ``h:mm:ss`` from an hour on.

    Parameters
    ----------
    seconds : float
        The time in seconds; a negative one keeps its sign.

    Returns
    -------
    str
        The time to a tenth of a second (to the second from an hour on).
    """
    # Rounded before it is split into minutes and seconds: 59.97 s is 1:00.0,
    # where splitting first would round the seconds alone up to "0:60.0".
    tenths = round(abs(seconds) * 10)
    sign = "-" if seconds < 0 and tenths else ""
    if tenths >= 36000:
        h, rest = divmod(round(abs(seconds)), 3600)
        return f"{sign}{h}:{rest // 60:02d}:{rest % 60:02d}"
    m, rest = divmod(tenths, 600)
    return f"{sign}{m}:{rest // 10:02d}.{rest % 10}"


def _event_detail(kind: EventKind, value: float, threshold: float) -> str:
    if kind is EventKind.RAISED_VOICE:
        return f"+{value:.1f} dB over your baseline"  # LU step like dB; "dB" is the word people know
    if kind is EventKind.FAST_SPEECH:
        return f"{value:.1f} syllables/s (threshold {threshold:.1f})"
    if kind is EventKind.INTERRUPTION:
        return f"talked over the customer for {value:.1f} s"
    if kind is EventKind.MONOLOGUE:
        return f"{value:.0f} s without a customer turn"
    return "offered a short breathing exercise"


def interruptions_text(report: AnalysisReport) -> str:
    """The call's interruptions as a summary shows them ("off" when the cue is turned off)."""
    if not report.rules.interruption_enabled:
        return CUE_OFF
    return str(report.summary.interruptions)


def raised_voice_text(report: AnalysisReport) -> str:
    """The call's raised-voice time as a summary shows it ("off" when the cue is turned off)."""
    if not report.rules.raised_voice_enabled:
        return CUE_OFF
    return f"{report.summary.raised_voice_s:.1f} s"


def format_summary(report: AnalysisReport) -> str:
    """A short plain-text summary: talk share, interruptions, raised voice, pace, events."""
    s = report.summary
    lines = [f"CalmLine analysis of {report.source} ({clock(report.duration_s)})"]
    agent = s.agent
    share = f"you {agent.talk_share:.0%} ({agent.talk_s:.0f} s)"
    if s.customer is not None:
        share += f", customer {s.customer.talk_share:.0%} ({s.customer.talk_s:.0f} s)"
        share += f", both at once {s.overtalk_s:.1f} s"
    lines.append(f"  Talk share     {share}")
    if s.customer is not None:
        lines.append(f"  Interruptions  {interruptions_text(report)}")
    lines.append(f"  Raised voice   {raised_voice_text(report)}")
    pace = f"{agent.rate_sps:.1f} syllables/s" if agent.rate_sps is not None else "not enough speech"
    if report.baseline.rate_sps is not None:
        pace += f" (your baseline {report.baseline.rate_sps:.1f})"
    lines.append(f"  Pace           {pace}")
    if report.events:
        lines.append("  Events")
        for e in report.events:
            lines.append(f"    {clock(e.start_s):>7} - {clock(e.end_s):<7} "
                         f"{EVENT_LABELS[e.kind]:<17}{_event_detail(e.kind, e.value, e.threshold)}"
                         f"{'' if e.kind is not EventKind.RAISED_VOICE else f' ({e.severity.value})'}")
    else:
        lines.append(f"  Events         none: {calm_verdict(report)}")
    lines.extend(f"  Note: {note}" for note in report.notes)
    return "\n".join(lines)
