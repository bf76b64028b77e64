#!/usr/bin/env bash
# Paper-scale Re-DocRED recipe: scripts/run_redocred.sh [atlop|kmgre] [bert|roberta|minilm] [--section.field value ...]
# Needs data/redocred/{train,dev,test}_revised.json and data/docred/rel_info.json
# (python -m data_prep.fetch all --out data). A GPU is advised (minilm also runs on a CPU, slowly).
set -euo pipefail
cd "$(dirname "$0")/.."
HEAD="${1:-kmgre}"; ENC="${2:-bert}"; shift $(( $# < 2 ? $# : 2 ))
export WANDB_MODE="${WANDB_MODE:-offline}"
docre train --config "configs/redocred_${ENC}_${HEAD}.json" --logging.wandb "$WANDB_MODE" "$@"
