"""Mean +- std over seeds of a linker's best dev scores: ``docre train --seeds ... --train.output_dir RUNS``
writes RUNS/seed<N>/best_model/metrics.json; this prints one row per score.

    python bench/linking_seeds.py runs/dwie_minilm_linker
"""
from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from docre.linking.evaluate import SCORE_NAMES


def main(root: str) -> None:
    runs = sorted(Path(root).glob("seed*/best_model/metrics.json"))
    if not runs:
        sys.exit(f"{root}: no seed*/best_model/metrics.json")
    metrics = [json.loads(p.read_text()) for p in runs]
    print(f"{len(runs)} seeds: {', '.join(p.parts[-3] for p in runs)}")
    for prefix, name in (("", "linker"), ("prior_", "prior baseline")):
        for k in SCORE_NAMES:
            vals = [m[prefix + k] for m in metrics]
            sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
            print(f"{name:<16}{k:<18}{statistics.mean(vals):7.2f} +- {sd:.2f}   ({', '.join(f'{v:.2f}' for v in vals)})")
    print("best epochs: " + ", ".join(str(m.get("epoch")) for m in metrics))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/dwie_minilm_linker")
