#!/usr/bin/env bash
# Set up CalmLine and open it. With no microphone the window is driven by the
# bundled demo call; with no display the demo call is analysed in the terminal.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/calmline "$@"
