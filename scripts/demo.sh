#!/usr/bin/env bash
# The main job on the embedded default: set up (CPU torch, deps, offline MiniLM), then train
# KMGRE on the bundled synthetic sample, evaluate on its dev split, and write result.json for
# its test split. Offline; a few minutes on 2 CPU cores. Extra arguments are config overrides,
# e.g. scripts/demo.sh --model.head atlop --train.epochs 5
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
OUT="${DOCRE_DEMO_OUT:-runs/demo}"
docre train --config configs/demo.json --train.output_dir "$OUT" "$@"
echo
echo "== dev scores of the best model (official DocRED metrics) =="
docre evaluate --pred "$OUT/dev_predictions.json" --gold docre/resources/sample/dev.json \
  --train docre/resources/sample/train.json
echo
echo "leaderboard-format test predictions: $OUT/result.json ($(python -c "import json,sys; print(len(json.load(open(sys.argv[1]))))" "$OUT/result.json") triples)"
