#!/usr/bin/env bash
# The test command: set up (as the demo does, plus pytest/hypothesis and, best effort,
# Debian's chromium for the HTML page test), then run the whole test suite.
# Real-data tests read DOCRE_DATA_DIR (default: ../shared/data when it exists).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DOCRE_EXTRAS=test source "$ROOT/scripts/setup.sh"
cd "$ROOT"
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "[test] installing chromium for the browser test (skipped with a reason if this fails)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) \
    >/dev/null 2>&1 || echo "[test] chromium could not be installed"
fi
if [ -z "${DOCRE_DATA_DIR:-}" ] && [ -d "$ROOT/../shared/data" ]; then
  export DOCRE_DATA_DIR="$(cd "$ROOT/../shared/data" && pwd)"
fi
exec python -m pytest -q -p no:cacheprovider "$@"
