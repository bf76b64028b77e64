"""KMGRE's training step against ATLOP's, measured in one process by alternating the two.

On a shared machine two separate benchmark runs see different loads, and their ratio moves by 0.3
from run to run; alternating full passes of both heads over the same batches in one process gives
both the same conditions. Both models are built from the same defaults (``--emb-size``, the heads'
defaults otherwise); KMGRE runs its most expensive step (``kmgre.em_period -1``: the E- and M-step
losses every step, after the warm-up).

    python bench/kmgre_step_ratio.py --data data/redocred/dev_revised.json --docs 24 --repeats 3
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="DocRED-format file with labels")
    p.add_argument("--docs", type=int, default=24, help="first N documents")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--encoder", default="minilm")
    p.add_argument("--emb-size", type=int, default=768)
    p.add_argument("--max-len", type=int, default=1024)
    p.add_argument("--repeats", type=int, default=3, help="alternations (the median ratio is reported)")
    args = p.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from docre.config import load_config
    from docre.data import RelationInventory, read_documents
    from docre.data.features import featurize_documents
    from docre.inference import batches, training_order
    from docre.models.encoder import resolve_encoder_path
    from docre.models.model import DocREModel, load_tokenizer
    from docre.training.trainer import make_optimizer

    docs = read_documents(args.data)[: args.docs]
    tok = load_tokenizer(resolve_encoder_path(args.encoder))
    rel = RelationInventory.from_relations(f.r for d in docs for f in (d.labels or []))
    feats = featurize_documents(docs, tok, rel, args.max_len)
    setups = {}
    for head in ("atlop", "kmgre"):
        cfg = load_config(overrides={"model.encoder": args.encoder, "model.head": head, "kmgre.em_period": -1,
                                     "model.emb_size": args.emb_size, "data.max_seq_length": args.max_len})
        torch.manual_seed(0)
        model = DocREModel.build(cfg, rel, tok)
        model.train()
        if head == "kmgre":
            model.head.em_started.fill_(True)  # past the warm-up: the key-pair path
        setups[head] = (model, make_optimizer(model, cfg))
    all_batches = list(batches(feats, args.batch_size, rel.num_classes,
                               training_order(feats, args.batch_size, 0, 8)))

    def one_pass(head: str) -> float:
        model, opt = setups[head]
        t0 = time.perf_counter()
        for b in all_batches:
            model(b, phase="joint").loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        return time.perf_counter() - t0

    for head in setups:  # warm-up pass
        one_pass(head)
    ratios = []
    for r in range(args.repeats):
        a, k = one_pass("atlop"), one_pass("kmgre")
        ratios.append(k / a)
        print(f"pass {r + 1}: ATLOP {a:.1f} s  KMGRE {k:.1f} s  ratio {k / a:.3f}", flush=True)
    print(f"KMGRE / ATLOP training step, median of {args.repeats}: {statistics.median(ratios):.3f} "
          f"({len(docs)} documents, batch {args.batch_size}, {args.threads} thread(s), emb {args.emb_size})")


if __name__ == "__main__":
    main()
