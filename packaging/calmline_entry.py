"""Entry script of the frozen CalmLine app (PyInstaller): the same as the ``calmline`` command."""
import signal
import sys

from ui.entry import main

# Until here the runtime hook ends the app at once on Ctrl-C; from here on Ctrl-C
# is Python's KeyboardInterrupt again, which the commands handle. An ignored
# SIGINT (a background job) stays ignored.
if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

if __name__ == "__main__":
    sys.exit(main())
