"""Entry point of the ``calmline`` command.

Loading the command line takes a moment (numpy, scipy, the settings and the
store), and so does building its parser. Ctrl-C in that moment would otherwise
end in a Python traceback, so this module imports nothing of its own and loads
the command line only once running, where Ctrl-C ends the program as it does
later on: one line and exit code 130.
"""
from __future__ import annotations

import sys

EXIT_INTERRUPTED = 130  # what a shell reports for a program ended by SIGINT


def main() -> int:
    """Load and run the ``calmline`` command line.

    Returns
    -------
    int
        The process exit code.
    """
    try:
        from ui.cli import main as cli_main
        return cli_main()
    except KeyboardInterrupt:  # the commands catch their own; this is loading and parsing
        print("calmline: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
