"""Entry script of the frozen CalmLine app (PyInstaller): the same as the ``calmline`` command."""
import sys

from ui.entry import main

if __name__ == "__main__":
    sys.exit(main())
