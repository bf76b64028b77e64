#!/usr/bin/env bash
# GDA recipe (ATLOP's settings, SciBERT, 10 epochs): scripts/run_gda.sh [--section.field value ...]
# Needs data/gda/{train,dev,test}.data (ATLOP's tab-separated format; read directly).
set -euo pipefail
cd "$(dirname "$0")/.."
X="gda_scibert_atlop"
export WANDB_MODE="${WANDB_MODE:-offline}"
docre train --config "configs/${X}.json" --logging.wandb "$WANDB_MODE" --train.output_dir "runs/${X}" "$@"
