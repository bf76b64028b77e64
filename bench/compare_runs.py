"""Compare training runs from their ``metrics.jsonl``: dev F1 by epoch, best F1, and
the F1 at the last epoch every run reached (the fair comparison when runs were cut short).

    python bench/compare_runs.py runs/dwie_atlop_full runs/dwie_atlop_cut1024

Prints one block per run and a summary table; ``--json`` prints the numbers instead.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def read_evaluations(run_dir: Path) -> list[dict[str, Any]]:
    """The dev evaluation records of a run, in order (one per evaluation)."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        raise SystemExit(f"compare_runs: {path} not found (is {run_dir} a docre run directory?)")
    records = []
    lines = path.read_text().splitlines()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            if n == len(lines):
                break  # a run killed while writing its last line
            raise SystemExit(f"compare_runs: {path} line {n} is not JSON")
        if "dev_f1" in rec:
            records.append(rec)
    return records


def summarise(run_dir: Path) -> dict[str, Any]:
    evals = read_evaluations(run_dir)
    out: dict[str, Any] = {"run": str(run_dir), "evaluations": len(evals)}
    if not evals:
        return out
    best = max(evals, key=lambda r: r["dev_f1"])
    times = [r["time"] for r in evals]
    per_eval = [b - a for a, b in zip([0.0] + times[:-1], times)]
    out.update({
        "epochs": [r["epoch"] for r in evals],
        "f1": [r["dev_f1"] for r in evals],
        "ign_f1": [r["dev_ign_f1"] for r in evals],
        "best_epoch": best["epoch"], "best_f1": best["dev_f1"], "best_ign_f1": best["dev_ign_f1"],
        "best_precision": best["dev_precision"], "best_recall": best["dev_recall"],
        "last_epoch": evals[-1]["epoch"],
        "seconds_per_eval_period": sorted(per_eval)[len(per_eval) // 2],
    })
    return out


def best_up_to(summary: dict[str, Any], epoch: float) -> float:
    """Best dev F1 among the evaluations at or before ``epoch``."""
    return max((f for e, f in zip(summary["epochs"], summary["f1"]) if e <= epoch + 1e-9), default=0.0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path, help="run directories (each with metrics.jsonl)")
    p.add_argument("--json", action="store_true", help="print the summaries as JSON")
    args = p.parse_args(argv)
    rows = [summarise(r) for r in args.runs]
    done = [r for r in rows if r["evaluations"]]
    common = min((r["last_epoch"] for r in done), default=0.0)
    for r in done:
        r["best_f1_common"] = best_up_to(r, common)
    if args.json:
        print(json.dumps({"common_epoch": common, "runs": rows}, indent=1))
        return 0
    for r in rows:
        print(r["run"])
        if not r["evaluations"]:
            print("  no evaluation yet")
            continue
        print("  dev F1 by epoch: " + " ".join(f"{e:g}:{f:.2f}" for e, f in zip(r["epochs"], r["f1"])))
    print(f"\n{'run':<40}{'evals':>6}{'best F1':>9}{'Ign F1':>8}{'P':>7}{'R':>7}{'@ep':>6}"
          f"{'F1<=ep ' + format(common, 'g'):>13}{'s/eval':>8}")
    for r in done:
        print(f"{Path(r['run']).name:<40}{r['evaluations']:>6}{r['best_f1']:>9.2f}{r['best_ign_f1']:>8.2f}"
              f"{r['best_precision']:>7.2f}{r['best_recall']:>7.2f}{r['best_epoch']:>6g}{r['best_f1_common']:>13.2f}"
              f"{r['seconds_per_eval_period']:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
