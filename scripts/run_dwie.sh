#!/usr/bin/env bash
# DWIE recipe (whole documents, sliding windows): scripts/run_dwie.sh [bert_kmgre|bert_atlop|minilm_kmgre] [--section.field value ...]
# Needs data/dwie/{train,dev,test,rel2id}.json in DocRED format. A GPU is advised.
set -euo pipefail
cd "$(dirname "$0")/.."
X="dwie_${1:-bert_kmgre}"; shift $(( $# < 1 ? $# : 1 ))
export WANDB_MODE="${WANDB_MODE:-offline}"
docre train --config "configs/${X}.json" --logging.wandb "$WANDB_MODE" --train.output_dir "runs/${X}" "$@"
