"""Windows at large fonts: nothing wider than a laptop screen, nothing cut off.

Agents run CalmLine on 1366x768 laptops at 125 % scaling and with large system
fonts. Qt lays windows out in device-independent pixels, so such a screen is
1092 px wide to a window, and a large font is what grows the text in them.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication, QLabel

from models.app_settings import AppSettings
from monitor.devices import DeviceError, InputDevice
from ui.calibration_wizard import CalibrationWizard
from ui.settings_dialog import SettingsDialog

LAPTOP_WIDTH_PX = 1366 * 4 // 5
"""A 1366x768 screen at 125 % scaling, in the device-independent pixels windows are laid out in."""

LARGE_FONT_PT = 16.0

# What PulseAudio lists on a real laptop: the description, then the source's system name.
PULSE_DEVICES = [
    InputDevice("pulse:alsa_input.usb-Plantronics_Plantronics_Blackwire_5220_Series_4A2B3C-00"
                ".analog-stereo",
                "Plantronics Blackwire 5220 Series Analog Stereo (alsa_input.usb-Plantronics_"
                "Plantronics_Blackwire_5220_Series_4A2B3C-00.analog-stereo)",
                "microphone", True, 2, 48000.0, "PulseAudio"),
    InputDevice("pulse:alsa_output.pci-0000_00_1f.3.analog-stereo.monitor",
                "Monitor of Built-in Audio Analog Stereo (alsa_output.pci-0000_00_1f.3"
                ".analog-stereo.monitor)", "monitor", False, 2, 48000.0, "PulseAudio"),
]
SETTINGS = AppSettings(agent_device=PULSE_DEVICES[0].name, customer_device=PULSE_DEVICES[1].name)


@pytest.fixture
def large_font(qapp: QApplication) -> Iterator[None]:
    """A large application font for the widgets made in the test (as a large system font is)."""
    saved = QFont(qapp.font())
    font = QFont(saved)
    font.setPointSizeF(LARGE_FONT_PT)
    qapp.setFont(font)
    yield
    qapp.setFont(saved)


def no_audio(spec: str, role: str) -> None:
    raise DeviceError("no sound card here")


def make_wizard(qtbot) -> CalibrationWizard:
    wizard = CalibrationWizard(SETTINGS, source_factory=no_audio,
                               device_lister=lambda: list(PULSE_DEVICES), profile_path=None)
    qtbot.addWidget(wizard)
    wizard.show()
    qtbot.waitExposed(wizard)
    return wizard


def test_long_device_names_keep_the_settings_dialog_on_a_laptop_screen(qtbot,
                                                                        large_font) -> None:
    dialog = SettingsDialog(SETTINGS, device_lister=lambda: list(PULSE_DEVICES))
    qtbot.addWidget(dialog)
    assert dialog.minimumSizeHint().width() <= LAPTOP_WIDTH_PX
    assert dialog.sizeHint().width() <= LAPTOP_WIDTH_PX
    # A name cut short in the box is whole in its tooltip (and in its drop-down list).
    for combo, device in ((dialog.agent_combo, PULSE_DEVICES[0]),
                          (dialog.customer_combo, PULSE_DEVICES[1])):
        assert device.label in combo.toolTip()


def test_long_device_names_keep_the_set_up_wizard_on_a_laptop_screen(qtbot, large_font) -> None:
    wizard = make_wizard(qtbot)
    # The size it asks for, not the size it got: Qt caps a new window at 2/3 of the screen.
    assert wizard.sizeHint().width() <= LAPTOP_WIDTH_PX
    assert wizard.minimumSize().width() <= LAPTOP_WIDTH_PX


def test_the_reading_prompt_is_whole_at_the_wizards_smallest_size_with_a_large_font(
        qtbot, large_font) -> None:
    wizard = make_wizard(qtbot)
    for _ in range(3):
        wizard.next()
    page = wizard.baseline_page
    assert wizard.currentPage() is page
    size = wizard.minimumSize()
    wizard.resize(size)
    qtbot.waitUntil(lambda: wizard.size() == size)
    label: QLabel = page.prompt_label
    assert label.heightForWidth(label.width()) <= label.height()
    bottom = label.mapTo(wizard, label.rect().bottomRight())
    assert wizard.rect().contains(bottom)
