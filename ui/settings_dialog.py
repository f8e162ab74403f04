"""The settings dialog: devices, cues, thresholds, privacy.

The threshold and cue forms are generated from the ``metadata`` (unit and
one-sentence help) of :class:`~models.settings.RuleSettings` and
:class:`~models.call_segmentation.SegmentationSettings`, so a new rule setting
appears here without touching this file.

Settings an IT policy fixes are named by *setting keys*: ``"<section>.<field>"``
with the sections of ``settings.toml`` (``general.recording_enabled``,
``rules.raised_voice_lu``, ``segmentation.end_silence_s``, ``general.cue_sound``).
A bare section name
(``"rules"``) locks the whole section. Locked settings are shown disabled with
"Set by IT:" before their label and the tooltip "Set by your IT department".

Saving is the caller's job (:func:`models.app_settings.save_settings`), and so
is applying ``start_at_login`` through :func:`set_start_at_login`.
"""
from __future__ import annotations

import logging
import os
import re
import shlex
import sys
from collections.abc import Callable, Iterable
from dataclasses import Field, fields, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox,
                               QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                               QPushButton, QScrollArea, QSpinBox, QTabWidget, QVBoxLayout,
                               QWidget)

from models.app_settings import MAX_RETENTION_DAYS, AppSettings
from models.private_files import write_private_text
from models.settings import RuleSettings, SettingsError
from monitor.devices import DeviceError, InputDevice, list_input_devices
from ui.window_titles import window_title

logger = logging.getLogger(__name__)

LOCK_PREFIX = "Set by IT:"
"""Put before a locked setting's label. Words, not the lock emoji: Linux desktops
without an emoji font show U+1F512 as an empty box."""
LOCKED_TOOLTIP = "Set by your IT department"
ERROR_GLYPH = "\N{WARNING SIGN}"
MIC_ONLY_LABEL = "none (mic-only)"
AUTOSTART_FILE_NAME = "calmline.desktop"
DEVICE_BOX_CHARS = 40
"""Width of a device list, in characters: longer names are cut in the box and whole
in its drop-down list and tooltip."""

DeviceLister = Callable[[], list[InputDevice]]

# Largest values the spin boxes offer: far beyond any sensible setting, small
# enough that a stray key press cannot produce a nonsense number. A larger value
# from the settings file or the policy widens its own box, so it is shown as it is.
_MAX_SECONDS = 3600.0
_MAX_COUNT = 100
_QT_MAX_INT = 2**31 - 1
"""Largest value a QSpinBox holds (a C int); a larger count is shown as this."""
_FLOAT_DECIMALS = 2
# A difference of loudness levels in LU is a difference in dB; agents know dB, so
# the boxes say dB while the setting names keep their _lu suffix.
_UNIT_SUFFIX = {"count": "", "fraction": "", "ratio": " \N{MULTIPLICATION SIGN}", "LU": " dB", "": ""}


def setting_key(section: str, name: str) -> str:
    """The policy key of a setting: ``"<section>.<field>"``."""
    return f"{section}.{name}"


def is_locked(locked: frozenset[str], section: str, name: str) -> bool:
    """Whether a policy locks a setting, by its own key or its whole section."""
    return section in locked or setting_key(section, name) in locked


def autostart_path(config_home: Path | None = None) -> Path:
    """The XDG autostart entry for CalmLine (``~/.config/autostart/calmline.desktop``).

    Parameters
    ----------
    config_home : Path, optional
        The XDG config folder; ``$XDG_CONFIG_HOME`` or ``~/.config`` by default.
    """
    if config_home is None:
        config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config_home / "autostart" / AUTOSTART_FILE_NAME


def set_start_at_login(enabled: bool, config_home: Path | None = None,
                       command: Iterable[str] | None = None) -> Path:
    """Add or remove CalmLine's XDG autostart entry (Linux desktops).

    Parameters
    ----------
    enabled : bool
        Write the entry (True) or remove it (False; no error if absent).
    config_home : Path, optional
        The XDG config folder (see :func:`autostart_path`).
    command : iterable of str, optional
        The command to start; this Python running ``ui.cli`` by default, so the
        entry starts the same installation.

    Returns
    -------
    Path
        The entry's path.

    Raises
    ------
    OSError
        When the autostart folder cannot be written.
    NotImplementedError
        On other systems than Linux (macOS login items and the Windows Run key
        need their own code).
    """
    if not sys.platform.startswith("linux"):
        raise NotImplementedError("start at login is only implemented for Linux desktops")
    path = autostart_path(config_home)
    if not enabled:
        path.unlink(missing_ok=True)
        return path
    argv = list(command) if command is not None else [sys.executable, "-m", "ui.cli"]
    entry = ("[Desktop Entry]\nType=Application\nName=CalmLine\n"
             "Comment=Quiet coaching during phone calls\n"
             f"Exec={shlex.join(argv)}\nTerminal=false\nX-GNOME-Autostart-enabled=true\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private_text(path, lambda stream: stream.write(entry))
    return path


def device_label(device: InputDevice) -> str:
    """How a device is shown in a list: its label, kind and whether it is the default."""
    kinds = {"microphone": "microphone", "monitor": "what your speakers play", "input": "input"}
    extra = ", system default" if device.default and device.name != "default" else ""
    return f"{device.label} ({kinds.get(device.kind, device.kind)}{extra})"


def fill_device_combo(combo: QComboBox, devices: list[InputDevice], current: str,
                      allow_none: bool) -> None:
    """Fill a combo box with devices and select ``current``.

    A ``current`` device that is not connected is kept as an entry marked
    "not connected", so that opening the dialog never changes the setting.

    Parameters
    ----------
    combo : QComboBox
        Cleared, then filled; item data is the device spec string.
    devices : list of InputDevice
        The devices to offer.
    current : str
        The spec to select ("" for mic-only when ``allow_none``).
    allow_none : bool
        Offer "none (mic-only)" (data "") first.
    """
    combo.clear()
    if allow_none:
        combo.addItem(MIC_ONLY_LABEL, "")
    for device in devices:
        combo.addItem(device_label(device), device.name)
    index = combo.findData(current)
    if index < 0:
        combo.addItem(f"{current} (not connected)", current)
        index = combo.count() - 1
    combo.setCurrentIndex(index)


class DevicePicker(QWidget):
    """Two device lists (microphone, customer's side) with a refresh button.

    Parameters
    ----------
    agent_device, customer_device : str
        The specs to select ("" for mic-only).
    device_lister : callable
        Lists the input devices.
    parent : QWidget, optional
        Parent widget.
    """

    def __init__(self, agent_device: str, customer_device: str, device_lister: DeviceLister,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._device_lister = device_lister
        self.agent_combo = QComboBox()
        self.agent_combo.setObjectName("agent_device")
        self.agent_combo.setAccessibleName("Your microphone")
        self.customer_combo = QComboBox()
        self.customer_combo.setObjectName("customer_device")
        self.customer_combo.setAccessibleName("The customer's side")
        for combo in (self.agent_combo, self.customer_combo):
            # PulseAudio names run past a hundred characters (the description and the
            # source's system name): sized by them, the dialog and the set-up wizard were
            # wider than a laptop screen at 125 % or with a large font.
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(DEVICE_BOX_CHARS)
            combo.currentTextChanged.connect(
                lambda name, combo=combo: _show_whole_name(combo, name))
        self.agent_label = QLabel("Your &microphone:")
        self.agent_label.setBuddy(self.agent_combo)
        self.customer_label = QLabel("The c&ustomer's side:")
        self.customer_label.setBuddy(self.customer_combo)
        hint = QLabel("For the customer's side choose what your softphone plays (a monitor "
                      "or loopback input). Without it, CalmLine works in mic-only mode: "
                      "raised voice and pace are coached, but the interruption and "
                      "monologue cues are off.")
        hint.setWordWrap(True)
        self.refresh_button = QPushButton("&Refresh device list")
        self.refresh_button.setAccessibleName("Refresh device list")
        self.refresh_button.clicked.connect(self.refresh_devices)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow(self.agent_label, self.agent_combo)
        form.addRow(self.customer_label, self.customer_combo)
        form.addRow(hint)
        form.addRow(self.refresh_button)
        self._fill(agent_device, customer_device)

    def _fill(self, agent: str, customer: str) -> None:
        try:
            devices = self._device_lister()
        except (DeviceError, OSError, RuntimeError) as exc:
            # The saved names stay selectable, marked "not connected".
            logger.warning("cannot list input devices: %s", exc)
            devices = []
        fill_device_combo(self.agent_combo, devices, agent, allow_none=False)
        fill_device_combo(self.customer_combo, devices, customer, allow_none=True)

    def refresh_devices(self) -> None:
        """List the devices again, keeping the current choices."""
        self._fill(self.agent_device(), self.customer_device())

    def agent_device(self) -> str:
        """The chosen microphone's spec."""
        return str(self.agent_combo.currentData())

    def customer_device(self) -> str:
        """The chosen customer side's spec, or "" for mic-only."""
        return str(self.customer_combo.currentData())

    def lock(self, agent: bool, customer: bool) -> None:
        """Show the microphone and/or customer choice as fixed by policy."""
        if agent:
            _lock(self.agent_combo, self.agent_label)
        if customer:
            _lock(self.customer_combo, self.customer_label)
        self.refresh_button.setEnabled(not (agent and customer))


def _show_whole_name(combo: QComboBox, name: str) -> None:
    # A locked list keeps its "set by IT" tooltip: it says why the list cannot be opened.
    if not combo.property("locked"):
        combo.setToolTip(name)


def _suffix(unit: str) -> str:
    return _UNIT_SUFFIX.get(unit, f" {unit}")


def _field_kind(owner: type, f: Field[Any]) -> str:
    # Annotations are strings under ``from __future__ import annotations``.
    return str(owner.__annotations__[f.name])


class _NumberForm:
    """Spin boxes generated from a settings dataclass's numeric fields."""

    def __init__(self, section: str, values: Any, locked: frozenset[str],
                 on_change: Callable[[], None]) -> None:
        self.section = section
        self.widget = QWidget()
        self.widget.setObjectName(f"{section}_form")
        layout = QFormLayout(self.widget)
        layout.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.editors: dict[str, QSpinBox | QDoubleSpinBox] = {}
        self._values = values
        self._shown: dict[str, float | int] = {}
        owner = type(values)
        defaults = owner()
        for f in fields(values):
            kind = _field_kind(owner, f)
            if kind == "bool":
                continue
            unit = f.metadata.get("unit", "")
            help_text = f.metadata.get("help", f.name)
            value = getattr(values, f.name)
            editor: QSpinBox | QDoubleSpinBox
            if kind == "int":
                editor = QSpinBox()
                editor.setRange(0, min(max(_MAX_COUNT, value), _QT_MAX_INT))
                editor.setValue(min(value, _QT_MAX_INT))
            else:
                editor = QDoubleSpinBox()
                editor.setDecimals(_FLOAT_DECIMALS)
                editor.setRange(0.0, max(_MAX_SECONDS, value))
                editor.setSingleStep(0.1 if unit in ("LU", "s", "syllables/s") else 0.05)
                editor.setValue(value)
            self._shown[f.name] = editor.value()
            editor.setObjectName(f.name)
            editor.setSuffix(_suffix(unit))
            editor.setKeyboardTracking(False)
            editor.setAccessibleName(help_text)
            editor.setAccessibleDescription(f"{f.name}, default {getattr(defaults, f.name)}"
                                            f"{_suffix(unit)}")
            label = QLabel(help_text)
            label.setWordWrap(True)
            label.setBuddy(editor)
            tooltip = f"{help_text}\nSetting: {f.name}; default {getattr(defaults, f.name)}" \
                      f"{_suffix(unit)}"
            if is_locked(locked, section, f.name):
                _lock(editor, label)
            else:
                editor.setToolTip(tooltip)
                label.setToolTip(tooltip)
                editor.valueChanged.connect(on_change)
            layout.addRow(label, editor)
            self.editors[f.name] = editor

    def values(self) -> dict[str, float | int]:
        """Current values by field name.

        A box the user has not changed gives the setting's own value, not the
        value as shown (rounded to the box's decimals, or a count beyond what a
        box holds), so that saving the dialog never changes an untouched setting.
        """
        return {name: getattr(self._values, name) if editor.value() == self._shown[name]
                else editor.value() for name, editor in self.editors.items()}


_UNIT_ENDINGS = re.compile(r"_(lu|s|sps|db|hz)$")


def plain_setting_names(message: str, names: Iterable[str]) -> str:
    """A settings error in one line, with field names as words ("raised voice release").

    The settings file and ``--set`` use the field names; the dialog shows
    sentences, so its error line uses the names without underscores and units.

    Parameters
    ----------
    message : str
        The error, as :meth:`models.settings.RuleSettings.validate` words it.
    names : iterable of str
        The field names that may appear in it.

    Returns
    -------
    str
        The message on one line, starting with a capital letter.
    """
    text = " ".join(message.split())
    for name in sorted(names, key=len, reverse=True):
        words = _UNIT_ENDINGS.sub("", name).replace("_", " ")
        text = re.sub(rf"\b(?:rules\.|segmentation\.)?{re.escape(name)}\b", words, text)
    return text[:1].upper() + text[1:]


def _lock(widget: QWidget, label: QLabel | None = None) -> None:
    """Show a setting as fixed by policy: disabled, marked in its label, explaining tooltip."""
    widget.setEnabled(False)
    widget.setToolTip(LOCKED_TOOLTIP)
    widget.setAccessibleDescription(LOCKED_TOOLTIP)
    widget.setProperty("locked", True)
    if isinstance(widget, QCheckBox):
        widget.setText(f"{LOCK_PREFIX} {widget.text()}")
    if label is not None:
        label.setText(f"{LOCK_PREFIX} {label.text()}")
        label.setToolTip(LOCKED_TOOLTIP)


class SettingsDialog(QDialog):
    """Edit the user's settings.

    Parameters
    ----------
    settings : AppSettings
        The settings to start from.
    locked : frozenset of str
        Setting keys fixed by IT policy (see the module notes).
    parent : QWidget, optional
        Parent window.
    device_lister : callable, optional
        Lists the input devices; :func:`monitor.devices.list_input_devices` by
        default (tests inject a fixed list).
    """

    def __init__(self, settings: AppSettings, locked: frozenset[str] = frozenset(),
                 parent: QWidget | None = None, *,
                 device_lister: DeviceLister = list_input_devices) -> None:
        super().__init__(parent)
        self._settings = settings
        self._locked = frozenset(locked)
        self._device_lister = device_lister
        self.setWindowTitle(window_title("Settings"))
        self.setObjectName("settings_dialog")

        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Settings sections")
        self.tabs.addTab(self._devices_tab(), "&Devices")
        self.tabs.addTab(self._cues_tab(), "&Cues")
        self.tabs.addTab(self._thresholds_tab(), "&Thresholds")
        self.tabs.addTab(self._privacy_tab(), "&Privacy")

        self.error_label = QLabel()
        self.error_label.setObjectName("error_label")
        self.error_label.setAccessibleName("Settings problem")
        self.error_label.setWordWrap(False)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.hide()

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setAccessibleName("Save settings")
        self.buttons.button(QDialogButtonBox.StandardButton.Cancel).setAccessibleName(
            "Discard changes")

        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        self._validate()

    # --- tabs

    def _devices_tab(self) -> QWidget:
        self.device_picker = DevicePicker(self._settings.agent_device,
                                          self._settings.customer_device, self._device_lister)
        self.device_picker.lock(is_locked(self._locked, "general", "agent_device"),
                                is_locked(self._locked, "general", "customer_device"))
        self.agent_combo = self.device_picker.agent_combo
        self.customer_combo = self.device_picker.customer_combo
        tab = QWidget()
        layout = QVBoxLayout(tab)
        layout.addWidget(self.device_picker)
        layout.addStretch(1)
        return tab

    def _cues_tab(self) -> QWidget:
        tab = QWidget()
        layout = QVBoxLayout(tab)
        group = QGroupBox("Which cues are on")
        group_layout = QVBoxLayout(group)
        self.cue_checks: dict[str, QCheckBox] = {}
        for f in fields(RuleSettings):
            if _field_kind(RuleSettings, f) != "bool":
                continue
            check = QCheckBox(f.metadata.get("help", f.name))
            check.setObjectName(f.name)
            check.setAccessibleName(f.metadata.get("help", f.name))
            check.setChecked(getattr(self._settings.rules, f.name))
            if is_locked(self._locked, "rules", f.name):
                _lock(check)
            else:
                check.toggled.connect(self._validate)
            group_layout.addWidget(check)
            self.cue_checks[f.name] = check
        layout.addWidget(group)

        other = QGroupBox("Sound and start-up")
        other_layout = QVBoxLayout(other)
        self.sound_check = QCheckBox("Play a soft &sound with each cue (cues are always shown "
                                     "in words too)")
        self.sound_check.setObjectName("cue_sound")
        self.sound_check.setAccessibleName("Play a soft sound with each cue")
        self.sound_check.setChecked(self._settings.cue_sound)
        self.login_check = QCheckBox("Start CalmLine when I &log in")
        self.login_check.setObjectName("start_at_login")
        self.login_check.setAccessibleName("Start CalmLine when I log in")
        self.login_check.setChecked(self._settings.start_at_login)
        for check, name in ((self.sound_check, "cue_sound"),
                            (self.login_check, "start_at_login")):
            if is_locked(self._locked, "general", name):
                _lock(check)
            other_layout.addWidget(check)
        layout.addWidget(other)
        layout.addStretch(1)
        return tab

    def _thresholds_tab(self) -> QWidget:
        inner = QWidget()
        layout = QVBoxLayout(inner)
        intro = QLabel("Each threshold is explained next to its box; hover or focus a box for "
                       "its default. Loudness is in dB above your own normal level.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.rule_form = _NumberForm("rules", self._settings.rules, self._locked,
                                     self._validate)
        self.segmentation_form = _NumberForm("segmentation", self._settings.segmentation,
                                             self._locked, self._validate)
        for title, form in (("Coaching rules", self.rule_form),
                            ("When calls start and end", self.segmentation_form)):
            group = QGroupBox(title)
            QVBoxLayout(group).addWidget(form.widget)
            layout.addWidget(group)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        scroll.setAccessibleName("Thresholds")
        return scroll

    def _privacy_tab(self) -> QWidget:
        tab = QWidget()
        layout = QVBoxLayout(tab)
        self.recording_check = QCheckBox("Record my calls' &audio")
        self.recording_check.setObjectName("recording_enabled")
        self.recording_check.setAccessibleName("Record my calls")
        self.recording_check.setChecked(self._settings.recording_enabled)
        explanation = QLabel(
            "Off by default. When on, CalmLine saves the audio of each call (your voice and the "
            "customer's) as a file on this computer, next to the call's record in History, "
            "readable only by you. Nothing is uploaded. Check your company's rules and your "
            "customers' consent before turning this on. Without recording, CalmLine keeps only "
            "numbers about each call (durations, counts), never audio.")
        explanation.setWordWrap(True)
        self.recording_check.setAccessibleDescription(explanation.text())
        self.retention_spin = QSpinBox()
        self.retention_spin.setObjectName("retention_days")
        self.retention_spin.setRange(0, MAX_RETENTION_DAYS)
        self.retention_spin.setSuffix(" days")
        self.retention_spin.setSpecialValueText("Keep all calls")
        self.retention_spin.setValue(self._settings.retention_days)
        self.retention_spin.setAccessibleName("Delete calls older than")
        self.retention_spin.setAccessibleDescription(
            "Calls and their recordings older than this are deleted; 0 keeps them all.")
        retention_label = QLabel("Delete calls and recordings &older than:")
        retention_label.setBuddy(self.retention_spin)
        retention_row = QHBoxLayout()
        retention_row.addWidget(retention_label)
        retention_row.addWidget(self.retention_spin)
        retention_row.addStretch(1)
        if is_locked(self._locked, "general", "recording_enabled"):
            _lock(self.recording_check)
        if is_locked(self._locked, "general", "retention_days"):
            _lock(self.retention_spin, retention_label)
        layout.addWidget(self.recording_check)
        layout.addWidget(explanation)
        layout.addLayout(retention_row)
        layout.addStretch(1)
        return tab

    def refresh_devices(self) -> None:
        """List the devices again, keeping the current choices."""
        self.device_picker.refresh_devices()

    # --- results

    def _candidate(self) -> AppSettings:
        rules = replace(self._settings.rules, **self.rule_form.values(),
                        **{name: check.isChecked() for name, check in self.cue_checks.items()})
        segmentation = replace(self._settings.segmentation, **self.segmentation_form.values())
        return replace(self._settings, agent_device=self.device_picker.agent_device(),
                       customer_device=self.device_picker.customer_device(),
                       recording_enabled=self.recording_check.isChecked(),
                       retention_days=self.retention_spin.value(),
                       cue_sound=self.sound_check.isChecked(),
                       start_at_login=self.login_check.isChecked(),
                       rules=rules, segmentation=segmentation)

    def _validate(self) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        try:
            self._candidate().validate()
        except SettingsError as exc:
            # One line: the first problem, naming the settings as the form does.
            names = {**self.rule_form.editors, **self.segmentation_form.editors}
            self.error_label.setText(f"{ERROR_GLYPH} {plain_setting_names(str(exc), names)}")
            self.error_label.show()
            ok.setEnabled(False)
            return
        self.error_label.clear()
        self.error_label.hide()
        ok.setEnabled(True)

    @property
    def error_text(self) -> str:
        """The validation problem shown, or "" when the settings are valid."""
        return self.error_label.text()

    def result_settings(self) -> AppSettings:
        """The settings as edited.

        Raises
        ------
        SettingsError
            If a value is invalid (the dialog's OK button is disabled then).
        """
        return self._candidate().validate()

    def accept(self) -> None:
        """Close with OK only when every value is valid."""
        self._validate()
        if self.error_text:
            return
        super().accept()
