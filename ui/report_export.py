"""The review report a trainee shares with their coach: HTML or PDF.

It holds the call summary, what went well, the events with their times and
the timeline as a picture. The HTML is self-contained (the picture is
embedded as base64) so it can be mailed or archived as one file; the PDF is
laid out by Qt from the same HTML. Both are written atomically and readable
by the user only, since they describe a real customer call.
"""
from __future__ import annotations

import base64
import html
import math
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMarginsF, QSizeF, QUrl
from PySide6.QtGui import QImage, QPageLayout, QPageSize, QPdfWriter, QTextDocument

from models.errors import UserError
from models.events import Event, EventKind
from models.private_files import write_private_bytes, write_private_text
from models.report import AnalysisReport
from models.settings import RuleSettings
from ui.summary_text import (EVENT_LABELS, TALK_MIN_S, _event_detail, calm_verdict, clock,
                             interruptions_text, raised_voice_text, too_little_agent_speech)
from ui.timeline import fast_threshold_sps

TIMELINE_RESOURCE = "calmline-timeline.png"
"""Name the PDF document gives the timeline image (QTextDocument has no data: URLs)."""
CALM_STRETCH_MIN_S = 30.0
"""An event-free stretch at least this long is worth pointing out, in seconds."""
FLOOR_SHARE_MIN = 0.3
"""A customer talk share of at least this means the customer was given the floor."""
PDF_RESOLUTION_DPI = 300
"""PDF layout resolution: sharp print without a huge file."""
TOO_LITTLE_SPEECH = ("Too little of your speech in this recording to coach: check that the right "
                     "channel is yours.")
"""What went well, when the agent hardly spoke: nothing was judged, so nothing is praised."""

REPORT_SUFFIXES = {"html": (".html", ".htm"), "pdf": (".pdf",)}
"""Per report format, the name endings of its files; the first is the one given to a name."""


class ExportError(UserError):
    """A report cannot be written; the message is one line for the user."""


def report_path(path: Path, kind: str) -> Path:
    """The name a report of format ``kind`` is written under, given the name the user chose.

    A report under another format's name would be a broken file, so the
    format's ending is enforced: a name that has it is kept, another report
    format's ending is replaced (``call.pdf`` becomes ``call.html``), and any
    other name has it added (``call.v2`` becomes ``call.v2.html``). Only the
    last ending is replaced, and a name left with this format's ending is
    taken as it is (``call.html.pdf`` becomes ``call.html``, not
    ``call.html.html``).

    Parameters
    ----------
    path : Path
        The name chosen.
    kind : str
        ``"html"`` or ``"pdf"`` (a key of :data:`REPORT_SUFFIXES`).

    Returns
    -------
    Path
    """
    own = REPORT_SUFFIXES[kind]
    if path.name.lower().endswith(own):
        return path
    if any(path.suffix.lower() in endings for endings in REPORT_SUFFIXES.values()):
        path = path.with_suffix("")
        if path.name.lower().endswith(own):
            return path
    return path.with_name(path.name + own[0])


def event_detail(event: Event) -> str:
    """What an event measured, in words (as ``calmline analyze`` prints it)."""
    detail = _event_detail(event.kind, event.value, event.threshold)
    if event.kind is EventKind.RAISED_VOICE:
        detail += f" ({event.severity.value})"
    return detail


def longest_calm_stretch(report: AnalysisReport) -> tuple[float, float]:
    """The longest span without any event, as ``(start, end)`` in seconds.

    It starts no earlier than the calibration of the agent's baseline: before
    then no raised voice could have been noticed. ``(0, 0)`` without one.
    """
    if report.calibrated_at_s is None:
        return (0.0, 0.0)
    best = (report.calibrated_at_s, report.calibrated_at_s)
    cursor = report.calibrated_at_s
    for event in sorted(report.events, key=lambda e: e.start_s):
        if event.start_s - cursor > best[1] - best[0]:
            best = (cursor, event.start_s)
        cursor = max(cursor, event.end_s)
    if report.duration_s - cursor > best[1] - best[0]:
        best = (cursor, report.duration_s)
    return best


def what_went_well(report: AnalysisReport, settings: RuleSettings | None = None) -> list[str]:
    """Strengths of the call in plain words, derived from the report.

    Parameters
    ----------
    report : AnalysisReport
        The analysed call.
    settings : RuleSettings, optional
        The thresholds the call was judged by (the report's own when omitted).

    Returns
    -------
    list of str
        At least one sentence. Only what the analysis could judge is praised:
        with too little of the agent's speech the one sentence says so;
        without a calibrated baseline or with the raised-voice cue turned off,
        calm is not praised; nor is what a turned-off cue would have watched,
        nor the agent's turn-taking when the customer hardly spoke, nor
        bringing a raised voice down when the recording ends with it raised.
    """
    if too_little_agent_speech(report):
        return [TOO_LITTLE_SPEECH]
    settings = settings or report.rules
    s = report.summary
    kinds = {e.kind for e in report.events}
    good: list[str] = []
    calm_judged = report.baseline.calibrated and settings.raised_voice_enabled
    start, end = longest_calm_stretch(report)
    if calm_judged and end - start >= min(CALM_STRETCH_MIN_S, report.duration_s):
        good.append(f"You stayed calm for {_span_words(end - start)} in a row "
                    f"({clock(start)} to {clock(end)}) with no coaching cue.")
    if calm_judged and EventKind.RAISED_VOICE not in kinds:
        good.append("Your voice stayed at your normal level all through the call.")
    elif EventKind.RAISED_VOICE in kinds:
        raised = [e for e in report.events if e.kind is EventKind.RAISED_VOICE]
        # A raised voice still going when the recording ends was never brought back down.
        if all(e.end_s < report.duration_s - report.frames.hop_s for e in raised):
            longest = max(e.end_s - e.start_s for e in raised)
            good.append(f"When your voice rose, you brought it back down within {longest:.0f} s.")
    agent_rate = s.agent.rate_sps
    threshold = fast_threshold_sps(report, settings)
    pace_judged = agent_rate is not None and settings.fast_speech_enabled
    if pace_judged and agent_rate < threshold and EventKind.FAST_SPEECH not in kinds:
        good.append(f"Your pace stayed within range all through ({agent_rate:.1f} syllables/s "
                    f"typical, fast starts at {threshold:.1f}).")
    elif pace_judged and agent_rate < threshold:
        good.append(f"Your typical pace was within range ({agent_rate:.1f} syllables/s; "
                    f"fast starts at {threshold:.1f}).")
    # Letting a customer finish, or keeping it a conversation, says nothing when they hardly spoke.
    if s.customer is not None and s.customer.talk_s >= TALK_MIN_S:
        if s.customer.talk_share >= FLOOR_SHARE_MIN:
            good.append(f"You gave the customer the floor: they spoke for {s.customer.talk_share:.0%} "
                        "of the call.")
        if s.interruptions == 0 and settings.interruption_enabled:
            good.append("You let the customer finish: no interruptions.")
        if (s.monologues == 0 and settings.monologue_enabled
                and report.duration_s >= settings.monologue_min_s):
            good.append("You kept it a conversation: no long monologues.")
    if not good and report.events:
        good.append("You finished the call: go through the events below with your coach.")
    elif not good:
        good.append("Too little of this call could be judged to point out what went well: "
                    "go through the timeline with your coach.")
    return good


def _span_words(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    if not minutes:
        return f"{rest} s"
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"


def summary_rows(report: AnalysisReport) -> list[tuple[str, str]]:
    """The summary as ``(label, value)`` rows, for the window and the report."""
    s = report.summary
    share = f"you {s.agent.talk_share:.0%} ({s.agent.talk_s:.0f} s)"
    if s.customer is not None:
        share += f", customer {s.customer.talk_share:.0%} ({s.customer.talk_s:.0f} s)"
    rows = [("Length", clock(report.duration_s)), ("Talk share", share)]
    if s.customer is not None:
        rows.append(("Both talking at once", f"{s.overtalk_s:.1f} s"))
        rows.append(("Interruptions", interruptions_text(report)))
    rows.append(("Raised voice", raised_voice_text(report)))
    pace = (f"{s.agent.rate_sps:.1f} syllables/s" if s.agent.rate_sps is not None
            else "not enough speech")
    if report.baseline.rate_sps is not None:
        pace += f" (your baseline {report.baseline.rate_sps:.1f})"
    rows.append(("Pace", pace))
    # Before calibration the loudness is a running median of whatever was heard, not a baseline.
    if report.baseline.calibrated and math.isfinite(report.baseline.loudness_lufs):
        rows.append(("Your baseline loudness", _baseline_loudness_text(report)))
    rows.append(("Events", str(len(report.events))))
    return rows


def _baseline_loudness_text(report: AnalysisReport) -> str:
    # A level in LUFS depends on the microphone and its gain as much as on the voice, so alone
    # it tells a trainee nothing: the words say what the baseline is and where a raised voice
    # starts against it; the level stays, explained, for a coach comparing calls on one headset.
    text = "your normal speaking level, learnt from your speech"
    if report.rules.raised_voice_enabled:
        # LU steps like dB; "dB" is the word people know (as in the events' details).
        text += f"; your voice counts as raised from {report.rules.raised_voice_lu:g} dB above it"
    return (f"{text} (measured {report.baseline.loudness_lufs:.0f} LUFS, a level that depends "
            "on the microphone)")


def summary_html(report: AnalysisReport, settings: RuleSettings | None = None) -> str:
    """The summary and what went well as an HTML fragment (for the window's panel)."""
    rows = "".join(f"<tr><th align='left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                   for k, v in summary_rows(report))
    good = "".join(f"<li>{html.escape(g)}</li>" for g in what_went_well(report, settings))
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in report.notes)
    parts = [f"<h2>Summary</h2><table cellspacing='0' cellpadding='3'>{rows}</table>",
             f"<h2>What went well</h2><ul>{good}</ul>"]
    if notes:
        parts.append(f"<h2>Notes</h2><ul>{notes}</ul>")
    return "".join(parts)


def build_html(report: AnalysisReport, image_src: str | None,
               settings: RuleSettings | None = None, image_width: int = 680) -> str:
    """The whole report as an HTML page.

    Parameters
    ----------
    report : AnalysisReport
        The analysed call.
    image_src : str or None
        ``src`` of the timeline picture (a data: URL, or a document resource
        name); None leaves the picture out.
    settings : RuleSettings, optional
        The thresholds the call was judged by.
    image_width : int
        Display width of the picture, in CSS pixels (points in a PDF).

    Returns
    -------
    str
    """
    name = Path(report.source).name
    title = f"CalmLine call review: {name}"
    events = "".join(
        f"<tr><td>{i}</td><td>{clock(e.start_s)}</td><td>{clock(e.end_s)}</td>"
        f"<td>{html.escape(EVENT_LABELS[e.kind])}</td><td>{html.escape(event_detail(e))}</td></tr>"
        for i, e in enumerate(report.events, start=1))
    events_part = (f"<table class='events' border='1' cellspacing='0' cellpadding='4'>"
                   f"<thead><tr><th>#</th><th>Start</th><th>End</th><th>Event</th><th>Detail</th>"
                   f"</tr></thead><tbody>{events}</tbody></table>"
                   if report.events else f"<p>No events: {html.escape(calm_verdict(report))}.</p>")
    picture = ""
    if image_src is not None:
        src = html.escape(image_src, quote=True)
        picture = (f"<h2 class='timeline'>Timeline</h2><p><img src='{src}' width='{image_width}' "
                   f"alt='Timeline of the call: waveform, loudness against your baseline, pace and "
                   f"speech activity, with the events marked'></p>"
                   "<p><small>Lanes: waveform of each party; your loudness against your baseline "
                   "(hatched: raised-voice zone); your pace against the fast threshold; who is speaking "
                   "(cross-hatched: both at once). Event glyphs: triangle raised voice, double chevron "
                   "fast speech, cross interruption, bar monologue, circle breathing prompt.</small></p>")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        # Centring is for the screen only: Qt lays out "margin:auto" as a wide margin, which
        # pushed the PDF's page-wide timeline off the page. In print an event row stays on one
        # line, since Qt splits a wrapped row across two pages; and the timeline starts a page,
        # since Qt cannot keep a heading with what follows and left it alone at a page's foot.
        "<style>body{font-family:sans-serif}"
        "@media screen{body{max-width:50em;margin:auto;padding:1em}}"
        "@media print{table.events td{white-space:nowrap}tr{page-break-inside:avoid}"
        "h2.timeline{page-break-before:always}}"
        "table{border-collapse:collapse}th,td{text-align:left;vertical-align:top}</style>"
        f"</head><body><h1>{html.escape(title)}</h1>"
        f"<p>Recording: {html.escape(report.source)}</p>"
        f"<p>{html.escape(_whose_channels(report))}</p>"
        f"{summary_html(report, settings)}"
        f"<h2>Events</h2>{events_part}{picture}"
        "</body></html>")


def _whose_channels(report: AnalysisReport) -> str:
    """Which file and channel each party came from: a swap, a channel choice or the
    customer's own recording (a call kept as two files) shows here."""
    customer = report.channels.get("customer") or "not recorded (agent only)"
    return f"You: {report.channels.get('agent')}; customer: {customer} (file:channel)"


def export_html(report: AnalysisReport, path: Path, timeline_png: bytes | None,
                settings: RuleSettings | None = None) -> None:
    """Write the report as one self-contained HTML file (user-only, atomically).

    Parameters
    ----------
    report : AnalysisReport
        The analysed call.
    path : Path
        Where to write.
    timeline_png : bytes or None
        The timeline as PNG, embedded as base64; None leaves it out.
    settings : RuleSettings, optional
        The thresholds the call was judged by.

    Raises
    ------
    ExportError
        When the file cannot be written.
    """
    src = (f"data:image/png;base64,{base64.b64encode(timeline_png).decode('ascii')}"
           if timeline_png is not None else None)
    text = build_html(report, src, settings)
    try:
        write_private_text(Path(path), lambda stream: stream.write(text))
    except OSError as exc:
        raise ExportError(f"{path}: cannot write ({exc.strerror})") from None


def build_pdf_document(report: AnalysisReport, timeline_png: bytes | None,
                       settings: RuleSettings | None = None,
                       page_width_pt: float | None = None) -> QTextDocument:
    """The report as a QTextDocument, with the timeline as a resource.

    Parameters
    ----------
    report : AnalysisReport
        The analysed call.
    timeline_png : bytes or None
        The timeline as PNG; None leaves it out.
    settings : RuleSettings, optional
        The thresholds the call was judged by.
    page_width_pt : float, optional
        Width of the printable area in points; the picture is fitted to it.

    Returns
    -------
    QTextDocument
    """
    document = QTextDocument()
    document.setMetaInformation(QTextDocument.MetaInformation.CssMedia, "print")
    if page_width_pt is not None:
        document.setPageSize(QSizeF(page_width_pt, page_width_pt * math.sqrt(2)))
    if timeline_png is not None:
        image = QImage.fromData(timeline_png, "PNG")
        document.addResource(QTextDocument.ResourceType.ImageResource, QUrl(TIMELINE_RESOURCE), image)
    width = int((page_width_pt or 680) - 2 * document.documentMargin())
    document.setHtml(build_html(report, TIMELINE_RESOURCE if timeline_png is not None else None,
                                settings, image_width=width))
    return document


def export_pdf(report: AnalysisReport, path: Path, timeline_png: bytes | None,
               settings: RuleSettings | None = None) -> None:
    """Write the report as an A4 PDF (user-only, atomically). Needs a QGuiApplication.

    Parameters
    ----------
    report : AnalysisReport
        The analysed call.
    path : Path
        Where to write.
    timeline_png : bytes or None
        The timeline as PNG; None leaves it out.
    settings : RuleSettings, optional
        The thresholds the call was judged by.

    Raises
    ------
    ExportError
        When the file cannot be written.
    """
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buffer)
    writer.setTitle(f"CalmLine call review: {Path(report.source).name}")
    writer.setCreator("CalmLine")
    writer.setResolution(PDF_RESOLUTION_DPI)
    writer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4),
                                     QPageLayout.Orientation.Portrait, QMarginsF(15, 15, 15, 15),
                                     QPageLayout.Unit.Millimeter))
    # Lay the text out on the page's width in points so that font sizes print as set.
    area = writer.pageLayout().paintRect(QPageLayout.Unit.Point)
    document = build_pdf_document(report, timeline_png, settings, page_width_pt=area.width())
    document.setPageSize(QSizeF(area.width(), area.height()))
    document.print_(writer)
    del writer  # finishes the PDF into the buffer
    buffer.close()
    try:
        write_private_bytes(Path(path), bytes(data.data()))
    except OSError as exc:
        raise ExportError(f"{path}: cannot write ({exc.strerror})") from None

