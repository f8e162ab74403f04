"""Overrides the contrib hook, which wants the metadata of 'webrtcvad': CalmLine
depends on the 'webrtcvad-wheels' distribution, which webrtcvad.py asks for."""
from PyInstaller.utils.hooks import copy_metadata

datas = copy_metadata("webrtcvad-wheels")
