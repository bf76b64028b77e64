#!/usr/bin/env bash
# CDR recipe (ATLOP's settings): scripts/run_cdr.sh [scibert_atlop|minilm_atlop] [--section.field value ...]
# Needs data/cdr/{train,dev,test}_filter.data (ATLOP's tab-separated format; read directly).
set -euo pipefail
cd "$(dirname "$0")/.."
X="cdr_${1:-scibert_atlop}"; shift $(( $# < 1 ? $# : 1 ))
export WANDB_MODE="${WANDB_MODE:-offline}"
docre train --config "configs/${X}.json" --logging.wandb "$WANDB_MODE" --train.output_dir "runs/${X}" "$@"
