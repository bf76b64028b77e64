#!/usr/bin/env bash
# The main job on the embedded default: set up (CPU torch, deps, offline MiniLM), then train
# KMGRE on the bundled synthetic sample, evaluate on its dev split, and write result.json for
# its test split. Offline, on 2 CPU cores (times measured in docs/results.md).
#   scripts/demo.sh              the full demo (configs/demo.json: 30 epochs) into runs/demo
#   scripts/demo.sh --fast       a short run (configs/demo_fast.json: 8 epochs) into runs/demo_fast
# Further arguments are config overrides, e.g. scripts/demo.sh --model.head atlop --train.epochs 5
#   DOCRE_VENV      the virtualenv to set up and use (default: .venv in the repository; see scripts/setup.sh)
#   DOCRE_DEMO_OUT  the run directory (default: runs/demo, or runs/demo_fast with --fast)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONFIG=configs/demo.json
DEFAULT_OUT=runs/demo
if [ "${1:-}" = "--fast" ]; then
  shift
  CONFIG=configs/demo_fast.json
  DEFAULT_OUT=runs/demo_fast
fi
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
OUT="${DOCRE_DEMO_OUT:-$DEFAULT_OUT}"
docre train --config "$CONFIG" --train.output_dir "$OUT" "$@"
echo
echo "== dev scores of the best model (official DocRED metrics) =="
docre evaluate --pred "$OUT/dev_predictions.json" --gold docre/resources/sample/dev.json \
  --train docre/resources/sample/train.json
echo
echo "leaderboard-format test predictions: $OUT/result.json ($(python -c "import json,sys; print(len(json.load(open(sys.argv[1]))))" "$OUT/result.json") triples)"
