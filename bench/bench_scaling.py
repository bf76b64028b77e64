"""Scaling of docre: peak RSS and docs/s of ``docre predict`` as the input grows, and 1 vs 2
processes for training and prediction.

Every row is its own command under ``/usr/bin/time -v`` (peak RSS: the largest process; with
several processes, the largest of them). Inputs are built under ``--workdir`` by replicating
the documents of ``--data`` with new titles (``"<title> #k"``), written one document at a time.

    python bench/bench_scaling.py --model runs/x/best_model --data data/redocred/dev_revised.json \
        --sizes 1000,20000 --what predict
    python bench/bench_scaling.py --model runs/x/best_model --data data/redocred/dev_revised.json \
        --what predict-procs,train-procs --procs-docs 1000 --train-steps 12

``--docre "python -m docre"`` with ``PYTHONPATH`` pointing at another checkout measures that code
(the before-figures). ``predict-procs``: 1 process with ``--threads`` threads vs ``N`` processes
(``accelerate launch --multi_gpu``, gloo on CPU) with ``threads / N`` each; ``train-procs``: the
same for ``docre train`` (MiniLM, ``--train-docs`` documents, batch 4, no evaluation), docs/s from
the step times in metrics.jsonl (model loading and featurisation excluded).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator


def replicated(data: Path, n: int) -> Iterator[dict[str, Any]]:
    """``n`` documents: those of ``data`` again and again, copy ``k`` titled ``"<title> #k"``."""
    docs = json.loads(data.read_text(encoding="utf-8"))
    for i in range(n):
        doc = dict(docs[i % len(docs)])
        k = i // len(docs)
        if k:
            doc["title"] = f"{doc['title']} #{k}"
        yield doc


def build_input(data: Path, n: int, workdir: Path, fmt: str) -> Path:
    path = workdir / f"docs_{n}.{fmt}"
    if path.exists():
        return path
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        if fmt == "jsonl":
            for doc in replicated(data, n):
                fh.write(json.dumps(doc, ensure_ascii=False) + "\n")
        else:
            fh.write("[")
            for i, doc in enumerate(replicated(data, n)):
                fh.write((", " if i else "") + json.dumps(doc, ensure_ascii=False))
            fh.write("]\n")
    tmp.rename(path)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(cmd: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run ``cmd`` under ``/usr/bin/time -v``: wall seconds, peak RSS (GB) of the largest process."""
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-v", *cmd], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"bench_scaling: command failed ({p.returncode}): {shlex.join(cmd)}\n{p.stderr[-3000:]}")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    return {"wall_s": wall, "peak_rss_gb": int(rss.group(1)) / 1024**2 if rss else float("nan"), "stdout": p.stdout}


def launcher(procs: int) -> list[str]:
    if procs <= 1:
        return []
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(procs),
            "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
            "--main_process_port", str(_free_port())]


def docre_cmd(args: argparse.Namespace, procs: int) -> list[str]:
    base = shlex.split(args.docre)
    if procs <= 1:
        return base
    # under the launcher: a module (python -m docre) or a script path
    if base[:2] == [sys.executable, "-m"] or (len(base) >= 2 and base[1] == "-m"):
        return launcher(procs) + ["-m", base[-1]]
    return launcher(procs) + base


def env_for(threads: int) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
            "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def predict_row(args: argparse.Namespace, path: Path, n: int, procs: int, threads: int) -> dict[str, Any]:
    out = Path(args.workdir) / f"preds_{n}_{procs}.json"
    cmd = docre_cmd(args, procs) + ["predict", "--model", args.model, "--data", str(path), "--out", str(out),
                                    "--quiet", "--device", "cpu", "--batch-size", str(args.batch_size)]
    if args.max_seq_length is not None:
        cmd += ["--max-seq-length", str(args.max_seq_length)]
    r = timed(cmd, env_for(threads))
    out.unlink(missing_ok=True)
    return {"what": f"predict {n:,} docs", "processes": procs, "threads_each": threads, "docs": n,
            "docs_per_s": n / r["wall_s"], "wall_s": r["wall_s"], "peak_rss_gb": r["peak_rss_gb"]}


def train_row(args: argparse.Namespace, procs: int, threads: int) -> dict[str, Any]:
    run = Path(args.workdir) / f"train_{procs}"
    cmd = docre_cmd(args, procs) + [
        "train", "--config", str(Path(__file__).resolve().parents[1] / "configs" / "redocred_dev400_minilm_atlop.json"),
        "--data.train_file", args.data, "--data.train_range", f":{args.train_docs}", "--data.dev_file", "none",
        "--data.cache", "false", "--train.max_steps", str(args.train_steps), "--train.output_dir", str(run),
        "--train.num_threads", str(threads), "--logging.progress", "false", "--logging.log_every", "1"]
    r = timed(cmd, env_for(threads))
    recs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [x for x in recs if "loss" in x]
    # seconds per step after the first (warm) step; batch 4 documents per step over all processes
    per_step = (steps[-1]["time"] - steps[0]["time"]) / max(1, len(steps) - 1)
    return {"what": f"train {args.train_steps} steps", "processes": procs, "threads_each": threads,
            "docs": 4 * len(steps), "docs_per_s": 4 / per_step, "wall_s": r["wall_s"], "peak_rss_gb": r["peak_rss_gb"],
            "final_loss": steps[-1]["loss"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="model directory for predict rows")
    p.add_argument("--data", required=True, help="DocRED-format documents to replicate (Re-DocRED dev)")
    p.add_argument("--what", default="predict,predict-procs,train-procs")
    p.add_argument("--sizes", default="1000,20000", help="documents for the predict rows")
    p.add_argument("--format", default="json", choices=("json", "jsonl"), help="input file format")
    p.add_argument("--procs", type=int, default=2, help="processes for the *-procs rows")
    p.add_argument("--procs-docs", type=int, default=1000, help="documents for predict-procs")
    p.add_argument("--train-docs", type=int, default=400)
    p.add_argument("--train-steps", type=int, default=12)
    p.add_argument("--threads", type=int, default=2, help="threads of a single process (split among processes)")
    p.add_argument("--batch-size", type=int, default=8, help="docre predict --batch-size")
    p.add_argument("--max-seq-length", type=int, default=None, help="docre predict --max-seq-length (default: as trained)")
    p.add_argument("--workdir", default="/tmp/docre_bench_scaling")
    p.add_argument("--docre", default=f"{sys.executable} -m docre", help="how to run docre")
    p.add_argument("--json", action="store_true", help="print rows as JSON lines too")
    args = p.parse_args()
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    what = set(args.what.split(","))
    rows = []
    if "predict" in what:
        for n in (int(x) for x in args.sizes.split(",")):
            rows.append(predict_row(args, build_input(Path(args.data), n, Path(args.workdir), args.format), n, 1,
                                    args.threads))
            print(rows[-1], flush=True)
    if "predict-procs" in what:
        path = build_input(Path(args.data), args.procs_docs, Path(args.workdir), args.format)
        for procs in (1, args.procs):
            rows.append(predict_row(args, path, args.procs_docs, procs, max(1, args.threads // procs)))
            print(rows[-1], flush=True)
    if "train-procs" in what:
        for procs in (1, args.procs):
            rows.append(train_row(args, procs, max(1, args.threads // procs)))
            print(rows[-1], flush=True)
    print("\n| what | processes x threads | docs/s | wall s | peak RSS (largest process) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['what']} | {r['processes']} x {r['threads_each']} | {r['docs_per_s']:.2f} | {r['wall_s']:.0f} | "
              f"{r['peak_rss_gb']:.2f} GB |")
    if args.json:
        for r in rows:
            print(json.dumps(r))


if __name__ == "__main__":
    main()
