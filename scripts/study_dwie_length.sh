#!/usr/bin/env bash
# DWIE: whole documents (sliding windows, data.max_seq_length 0) vs ATLOP's 1,024-subword cut,
# with the same training budget, for each head; prints the comparison table at the end.
#
#   scripts/study_dwie_length.sh [--section.field value ...]     (extra overrides go to every run)
#
# Environment: DWIE_DIR (default data/dwie), OUT_ROOT (default runs/dwie_length),
# HEADS (default "atlop kmgre"), LENGTHS (default "0 1024"), PARALLEL=1 to train all runs at once
# (one GPU has room for them), TIME_LIMIT=SECONDS to stop each run after that long (its evaluations
# so far stay in metrics.jsonl; compare at the last epoch all runs reached).
# Only DWIE's dev set is in data/dwie: the study trains on dev.json[:78] and validates on
# dev.json[78:] (20 documents, 6 of them longer than 1,024 MiniLM subwords, 10.6% of their mentions
# past the cut). With the full DWIE (data_prep/README.md) pass --data.train_file etc. instead.
set -euo pipefail
cd "$(dirname "$0")/.."
D="${DWIE_DIR:-data/dwie}"
R="${OUT_ROOT:-runs/dwie_length}"
LIMIT=()
[[ -n "${TIME_LIMIT:-}" ]] && LIMIT=(timeout --signal=TERM "${TIME_LIMIT}")
mkdir -p "$R"
runs=()
pids=()
for head in ${HEADS:-atlop kmgre}; do
  for len in ${LENGTHS:-0 1024}; do
    name="${head}_len${len}"
    runs+=("$R/$name")
    cmd=("${LIMIT[@]}" docre train --config configs/dwie_minilm_kmgre.json --model.head "$head"
         --data.max_seq_length "$len" --data.relations_file "$D/rel2id.json"
         --data.train_file "$D/dev.json" --data.train_range :78
         --data.dev_file "$D/dev.json" --data.dev_range 78: --data.test_file none
         --train.output_dir "$R/$name" --logging.progress false "$@")
    echo "== $name: ${cmd[*]}"
    if [[ "${PARALLEL:-0}" == 1 ]]; then
      "${cmd[@]}" >"$R/$name.log" 2>&1 &
      pids+=($!)
    else
      "${cmd[@]}" 2>&1 | tee "$R/$name.log" || true
    fi
  done
done
for p in "${pids[@]}"; do wait "$p" || true; done
python bench/compare_runs.py "${runs[@]}"
