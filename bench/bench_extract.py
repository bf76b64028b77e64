"""Speed and memory of extraction from text beside relation prediction with gold entities.

The same documents twice, each run in its own process under ``/usr/bin/time -v`` (peak RSS is its own):

- ``docre extract`` on their text (words joined with spaces, as ``docre evaluate --end-to-end`` gives
  it): spaCy tokenisation, the markerless pass for mentions and coreference, clustering, and the
  relation pass over the predicted entities;
- ``docre predict`` on the same documents with their gold entities (one relation pass).

docs/s counts the extraction or prediction call alone (the model already loaded), by the wall
clock and by the process's CPU time (steadier than the wall clock on a machine other jobs share;
with one thread the two agree on an idle machine); the wall time includes start-up and loading.
The ratio extract / predict is the figure to compare between versions.

    python bench/bench_extract.py --model runs/redocred_dev400_minilm_e2e/best_model \\
        --data data/redocred/dev_revised.json --range 400:440 --threads 1
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def worker(args: argparse.Namespace) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    from docre.data.reader import read_documents
    from docre.data.text import tokenize_text
    from docre.pipeline import Pipeline

    t0 = time.perf_counter()
    pipe = Pipeline.from_dir(args.model, device="cpu", batch_size=args.batch_size)
    tokenize_text("Load spaCy's tokenizer.")  # its one-time set-up counts as loading
    load = time.perf_counter() - t0
    out = {"what": args.worker, "load_s": load}
    if args.worker == "extract":
        items = [(json.loads(line)["id"], json.loads(line)["text"]) for line in Path(args.input).read_text().splitlines()]
        t0 = time.perf_counter()
        for _, text in items:
            tokenize_text(text)
        out["tokenise_s"] = time.perf_counter() - t0
        t0, c0 = time.perf_counter(), time.process_time()
        recs = list(pipe.extract_many(items))
        out["seconds"], out["cpu_s"] = time.perf_counter() - t0, time.process_time() - c0
        out["docs"] = len(recs)
        out["entities"] = sum(len(r["vertexSet"]) for r in recs)
        out["relations"] = sum(len(r["relations"]) for r in recs)
    else:
        docs = read_documents(args.input)
        t0, c0 = time.perf_counter(), time.process_time()
        preds = pipe.predict(docs)
        out["seconds"], out["cpu_s"] = time.perf_counter() - t0, time.process_time() - c0
        out["docs"] = len(preds)
        out["entities"] = sum(len(p["vertexSet"]) for p in preds)
        out["relations"] = sum(len(p["relations"]) for p in preds)
    return out


def run(what: str, inp: Path, args: argparse.Namespace) -> dict:
    cmd = ["/usr/bin/time", "-v", sys.executable, __file__, "--worker", what, "--input", str(inp),
           "--model", args.model, "--threads", str(args.threads), "--batch-size", str(args.batch_size)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{what} failed:\n{proc.stderr[-3000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    res["peak_rss_gb"] = int(rss.group(1)) / 1024 ** 2 if rss else float("nan")
    res["wall_s"] = wall
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="an end-to-end model directory (model.task end_to_end)")
    p.add_argument("--data", help="DocRED-format documents with entities")
    p.add_argument("--range", default="400:440", help="documents of --data to use (Python slice)")
    p.add_argument("--threads", type=int, default=2, help="torch threads of each process")
    p.add_argument("--batch-size", type=int, default=8, help="documents per batch")
    p.add_argument("--worker", choices=("extract", "predict"), help=argparse.SUPPRESS)
    p.add_argument("--input", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    from docre.config import parse_range
    from docre.data.reader import read_documents
    from docre.e2e.evaluate import gold_text

    docs = read_documents(args.data)
    docs = [docs[i] for i in parse_range(args.range, len(docs))]
    with tempfile.TemporaryDirectory() as tmp:
        texts = Path(tmp) / "texts.jsonl"
        texts.write_text("".join(json.dumps({"id": d.title, "text": gold_text(d)[0]}) + "\n" for d in docs))
        gold = Path(tmp) / "docs.json"
        gold.write_text(json.dumps([d.to_json() for d in docs]))
        rows = [run("extract", texts, args), run("predict", gold, args)]
    print(f"{len(docs)} documents ({args.data} [{args.range}]), {args.threads} threads, batch {args.batch_size}, "
          f"model {args.model}")
    print(f"{'what':<38} {'docs/s':>7} {'s':>7} {'CPU docs/s':>10} {'wall s':>7} {'peak RSS':>9}  entities  relations")
    for r, label in zip(rows, ("extract (text -> entities, relations)", "predict (gold entities)")):
        print(f"{label:<38} {r['docs'] / r['seconds']:7.2f} {r['seconds']:7.1f} {r['docs'] / r['cpu_s']:10.2f} "
              f"{r['wall_s']:7.1f} {r['peak_rss_gb']:8.2f}G  {r['entities']:8d}  {r['relations']:9d}")
    ex, pr = rows
    print(f"extract / predict: {ex['docs'] / ex['seconds'] / (pr['docs'] / pr['seconds']):.2f}x by the wall clock, "
          f"{ex['docs'] / ex['cpu_s'] / (pr['docs'] / pr['cpu_s']):.2f}x by CPU time")
    print(f"(spaCy tokenisation of the texts alone: {rows[0]['tokenise_s']:.2f} s; model loading "
          f"{rows[0]['load_s']:.1f} / {rows[1]['load_s']:.1f} s)")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
