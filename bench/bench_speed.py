"""Speed and memory of docre on real documents: preprocessing, training and inference docs/s
and peak RSS, for the encoder alone (the limit), the ATLOP head and the KMGRE head.

Each configuration runs in its own process so that peak RSS is its own.

    python bench/bench_speed.py --data data/redocred/dev_revised.json --docs 40 \
        --batch-size 4 --threads 2 --encoder minilm
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker(args: argparse.Namespace) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    from docre.config import load_config
    from docre.data import RelationInventory, read_documents
    from docre.data.features import featurize_documents
    from docre.inference import batches, predict, training_order
    from docre.models.encoder import resolve_encoder_path
    from docre.models.model import DocREModel, load_tokenizer
    from docre.training.trainer import make_optimizer

    docs = read_documents(args.data)[: args.docs]
    head = "atlop" if args.what == "encoder" else args.what.split("-")[0]
    overrides = {"model.encoder": args.encoder, "model.head": head, "data.max_seq_length": args.max_len,
                 "model.attention_dropout": args.attention_dropout, "model.emb_size": args.emb_size}
    if args.what == "kmgre-separate":
        overrides["kmgre.key_encoder"] = "separate"
    if head == "kmgre":
        overrides["kmgre.em_period"] = -1  # both losses every step: the most expensive KMGRE step
    cfg = load_config(overrides=overrides)
    tok = load_tokenizer(resolve_encoder_path(args.encoder))
    rel = RelationInventory.from_relations(f.r for d in docs for f in (d.labels or []))
    t0 = time.perf_counter()
    feats = featurize_documents(docs, tok, rel, args.max_len)
    prep = len(docs) / (time.perf_counter() - t0)
    torch.manual_seed(0)
    device = torch.device(args.device)
    model = DocREModel.build(cfg, rel, tok).to(device)
    out = {"what": args.what, "docs": len(docs), "preprocess_docs_per_s": prep}

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def step(batch):
        if args.what == "encoder":
            enc = model.encoder(batch.input_ids, batch.mention_pos)
            return sum(e.hidden.sum() + e.query_att.sum() for e in enc)
        return model(batch, phase="joint" if head == "kmgre" else "joint").loss

    opt = make_optimizer(model, cfg)
    model.train()
    # the training loop's batching (length-bucketed shuffling)
    all_batches = list(batches(feats, args.batch_size, rel.num_classes,
                               training_order(feats, args.batch_size, 0, cfg.train.length_buckets)))
    # one warm-up step, then time a full pass
    loss = step(all_batches[0]); loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
    sync()
    t0 = time.perf_counter()
    enc_time = 0.0
    for b in all_batches:
        loss = step(b)
        loss.backward()
        if cfg.train.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.max_grad_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)
    sync()
    out["train_docs_per_s"] = len(docs) / (time.perf_counter() - t0)
    model.eval()
    t0 = time.perf_counter()
    if args.what == "encoder":
        with torch.inference_mode():
            for b in batches(feats, args.batch_size, rel.num_classes):
                model.encoder(b.input_ids, b.mention_pos)
    else:
        predict(model, feats, batch_size=args.batch_size)
    sync()
    out["infer_docs_per_s"] = len(docs) / (time.perf_counter() - t0)
    out["peak_rss_mb"] = _peak_rss_mb()
    out["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else 0.0
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="DocRED-format file")
    p.add_argument("--docs", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--encoder", default="minilm")
    p.add_argument("--max-len", type=int, default=1024)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--attention-dropout", default="none", help="model.attention_dropout ('none': the encoder's own)")
    p.add_argument("--emb-size", type=int, default=768,
                   help="model.emb_size of the heads (768: docre's default; the official ATLOP figures were measured "
                        "at 384)")
    p.add_argument("--what", default="encoder,atlop,kmgre,kmgre-separate",
                   help="comma-separated: encoder, atlop, kmgre, kmgre-separate")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    rows = []
    for what in args.what.split(","):
        cmd = [sys.executable, __file__, "--worker", "--what", what, "--data", args.data, "--docs", str(args.docs),
               "--batch-size", str(args.batch_size), "--threads", str(args.threads), "--encoder", args.encoder,
               "--max-len", str(args.max_len), "--device", args.device,
               "--attention-dropout", args.attention_dropout, "--emb-size", str(args.emb_size)]
        res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
        if res.returncode != 0:
            print(res.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"benchmark {what} failed")
        rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
    print(f"{args.docs} documents of {os.path.basename(args.data)}, batch {args.batch_size}, "
          f"{args.threads} threads, encoder {args.encoder}, device {args.device}, "
          f"attention dropout {args.attention_dropout}, emb {args.emb_size}")
    print(f"{'what':<16}{'prep docs/s':>12}{'train docs/s':>14}{'infer docs/s':>14}{'peak RSS MB':>13}{'peak GPU MB':>13}")
    for r in rows:
        print(f"{r['what']:<16}{r['preprocess_docs_per_s']:>12.1f}{r['train_docs_per_s']:>14.2f}"
              f"{r['infer_docs_per_s']:>14.2f}{r['peak_rss_mb']:>13.0f}{r['peak_gpu_mb']:>13.0f}")


if __name__ == "__main__":
    main()
