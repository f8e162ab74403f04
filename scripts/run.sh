#!/usr/bin/env bash
# Set up CalmLine and run it. Until the desktop window lands, this analyses the demo call.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/calmline demo "$@"
