#!/usr/bin/env bash
# Set up CalmLine and run its test suite. Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit $?
export QT_QPA_PLATFORM=offscreen
.venv/bin/python -m pytest "$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "test: pytest collected no tests (exit 5); treating that as success" >&2
  exit 0
fi
exit "$status"
