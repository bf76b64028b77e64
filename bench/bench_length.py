"""Encoding time per document as a function of its length (any-length sliding windows).

Builds documents of exactly N subwords from the text of a real DocRED-format file (its
documents' words, concatenated), puts a mention marker query every 25 subwords, and times
the document encoder (windows, hidden-state averaging, last-layer attention rows) in
inference mode: the median of ``--repeats`` runs after one warm-up run.

    python bench/bench_length.py --data data/dwie/dev.json --lengths 512,1024,2048,4096 \
        --threads 2 --encoder minilm [--device cuda]
"""
from __future__ import annotations

import argparse
import statistics
import time


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="DocRED-format file whose text is used")
    p.add_argument("--lengths", default="512,1024,2048,4096", help="document lengths in subwords")
    p.add_argument("--encoder", default="minilm")
    p.add_argument("--window", type=int, default=512, help="model.window")
    p.add_argument("--stride", type=int, default=0, help="model.window_stride (0: ATLOP's layout)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from docre.config import load_config
    from docre.data import RelationInventory, read_documents
    from docre.models.encoder import resolve_encoder_path, window_starts
    from docre.models.model import DocREModel, load_tokenizer

    lengths = [int(x) for x in args.lengths.split(",")]
    tok = load_tokenizer(resolve_encoder_path(args.encoder))
    words = [w for d in read_documents(args.data) for s in d.sents for w in s]
    ids: list[int] = []
    for s in range(0, len(words), 512):
        ids.extend(tok(words[s: s + 512], is_split_into_words=True, add_special_tokens=False)["input_ids"])
        if len(ids) >= max(lengths):
            break
    if len(ids) < max(lengths) - 2:
        raise SystemExit(f"bench_length: {args.data} has only {len(ids)} subwords; pass a larger file")
    cfg = load_config(overrides={"model.encoder": args.encoder, "model.window": args.window,
                                 "model.window_stride": args.stride})
    rel = RelationInventory.from_relations(["P1"])
    device = torch.device(args.device)
    model = DocREModel.build(cfg, rel, tok).to(device).eval()
    cls, sep = tok.cls_token_id, tok.sep_token_id

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    print(f"encoder {args.encoder}, window {args.window}, stride {args.stride or 'ATLOP layout'}, "
          f"{args.threads} threads, device {args.device}, median of {args.repeats}")
    print(f"{'subwords':>9}{'windows':>9}{'ms/doc':>10}{'ms/1k subwords':>16}")
    for n in lengths:
        doc = torch.tensor([cls] + ids[: n - 2] + [sep])
        queries = torch.arange(1, n - 1, 25)
        windows = len(window_starts(n - 2, args.window - 2, args.stride))
        times = []
        with torch.inference_mode():
            for r in range(args.repeats + 1):
                sync()
                t0 = time.perf_counter()
                model.encoder([doc], [queries])
                sync()
                if r:  # the first run is the warm-up
                    times.append((time.perf_counter() - t0) * 1e3)
        ms = statistics.median(times)
        print(f"{n:>9}{windows:>9}{ms:>10.1f}{ms / n * 1000:>16.1f}")


if __name__ == "__main__":
    main()
