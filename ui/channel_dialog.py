"""A dialog that asks which channels of a recording carry the agent and the customer.

Recordings from conference bridges and some call recorders have more than
two channels, and nothing in the file says which party is where. The
command line takes ``--agent-channel`` and ``--customer-channel``; this is
the same choice for the review window.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QWidget

from monitor.audio_file import AudioInputError, ChannelChoice, PartyLayout, resolve_layout
from ui.window_titles import window_title

NO_CUSTOMER = -1
"""The customer box's value for "none: analyse me only"."""

FILE_NAME_CHARS = 40
"""Average character widths a file name may take in the question before its middle is cut."""


def channel_label(index: int, channels: int) -> str:
    """How a channel is named to the user: 1-based, with left/right for stereo.

    Parameters
    ----------
    index : int
        0-based channel index.
    channels : int
        Channel count of the recording.

    Returns
    -------
    str
        For example "Channel 2 (right)".
    """
    side = {0: " (left)", 1: " (right)"}.get(index, "") if channels == 2 else ""
    return f"Channel {index + 1}{side}"


def level_text(level_dbfs: float | None) -> str:
    """A channel's level as the dialog shows it, so that empty channels stand out.

    Parameters
    ----------
    level_dbfs : float or None
        Level in dBFS, or None for a silent channel.

    Returns
    -------
    str
        For example "silent" or "loudest −24 dBFS".
    """
    return "silent" if level_dbfs is None else f"loudest {level_dbfs:.0f} dBFS".replace("-", "\u2212")


class ChannelDialog(QDialog):
    """Choose the agent's channel and the customer's (or none).

    Parameters
    ----------
    file_name : str
        The recording's name, shown in the question.
    channels : int
        The recording's channel count (at least 1).
    current : ChannelChoice, optional
        The choice to show first; by default channels 1 and 2, or the first
        two channels that are not silent when ``levels_dbfs`` is given.
    levels_dbfs : sequence of float or None, optional
        Per channel, its level in dBFS or None when silent (see
        :func:`monitor.audio_file.channel_levels_dbfs`).
    parent : QWidget, optional
        Owner.
    """

    def __init__(self, file_name: str, channels: int, current: ChannelChoice | None = None,
                 levels_dbfs: Sequence[float | None] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(window_title("Choose the channels"))
        if current is None:
            # The two loudest channels are the likeliest parties; the lower-numbered one is
            # offered as "you", as a call recorder's first channel usually is.
            heard = sorted(i for i, level in enumerate(levels_dbfs or []) if level is not None)
            loudest = sorted(sorted(heard, key=lambda i: levels_dbfs[i], reverse=True)[:2])
            current = (ChannelChoice(loudest[0], loudest[1]) if len(loudest) == 2
                       else ChannelChoice(loudest[0], mono=True) if loudest else ChannelChoice())
        self.agent = QComboBox(self)
        self.agent.setAccessibleName("Your channel")
        self.customer = QComboBox(self)
        self.customer.setAccessibleName("The customer's channel")
        self.customer.addItem("None (analyse you only)", NO_CUSTOMER)
        for index in range(channels):
            label = channel_label(index, channels)
            if levels_dbfs is not None:
                label += f": {level_text(levels_dbfs[index])}"
            self.agent.addItem(label, index)
            self.customer.addItem(label, index)
        try:  # shown as the analysis reads the choice
            shown = resolve_layout(channels, current, False, Path(file_name))
        except AudioInputError:  # no valid choice yet (over two channels): the first two
            shown = PartyLayout(0, 1)
        customer = shown.customer_channel
        self.agent.setCurrentIndex(self.agent.findData(shown.agent_channel))
        self.customer.setCurrentIndex(self.customer.findData(NO_CUSTOMER if customer is None else customer))
        self._problem = QLabel(self)
        self._problem.setVisible(False)
        self._buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                         | QDialogButtonBox.StandardButton.Cancel, self)
        self._buttons.accepted.connect(self.accept)
        self._buttons.rejected.connect(self.reject)
        self.agent.currentIndexChanged.connect(self._check)
        self.customer.currentIndexChanged.connect(self._check)
        question = QLabel(self)
        # A recorder's long file name must not widen the dialog past the screen: its
        # middle is cut (the start and the extension tell files apart) and the whole
        # name is in the tooltip.
        room_px = question.fontMetrics().averageCharWidth() * FILE_NAME_CHARS
        shown_name = question.fontMetrics().elidedText(file_name, Qt.TextElideMode.ElideMiddle,
                                                       room_px)
        question.setTextFormat(Qt.TextFormat.PlainText)
        question.setText(f"{shown_name} has {channels} channel{'s' if channels != 1 else ''}. "
                         "Which one is which?")
        question.setToolTip(file_name)
        question.setAccessibleDescription(f"The recording: {file_name}")
        layout = QFormLayout(self)
        layout.addRow(question)
        layout.addRow("&You (the agent):", self.agent)
        layout.addRow("The &customer:", self.customer)
        layout.addRow(self._problem)
        layout.addRow(self._buttons)
        self._check()

    def choice(self) -> ChannelChoice:
        """The channels chosen.

        Returns
        -------
        ChannelChoice
            The agent's channel, and the customer's or ``mono`` when none.
        """
        customer = self.customer.currentData()
        return ChannelChoice(agent_channel=self.agent.currentData(),
                             customer_channel=None if customer == NO_CUSTOMER else customer,
                             mono=customer == NO_CUSTOMER)

    def _check(self) -> None:
        same = self.agent.currentData() == self.customer.currentData()
        self._problem.setText("You and the customer cannot share a channel." if same else "")
        self._problem.setVisible(same)
        self._buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not same)
