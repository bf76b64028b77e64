#!/usr/bin/env bash
# Paper-scale DocRED recipe: scripts/run_docred.sh [atlop|kmgre] [bert|roberta] [--section.field value ...]
# Needs data/docred/{train_annotated,dev,test,rel_info}.json (python -m data_prep.fetch docred --out data)
# and the encoder (bert-base-cased / roberta-large) from the hub or a local copy. A GPU is advised.
set -euo pipefail
cd "$(dirname "$0")/.."
HEAD="${1:-kmgre}"; ENC="${2:-bert}"; shift $(( $# < 2 ? $# : 2 ))
export WANDB_MODE="${WANDB_MODE:-offline}"
docre train --config "configs/docred_${ENC}_${HEAD}.json" --logging.wandb "$WANDB_MODE" "$@"
