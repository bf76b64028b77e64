"""Write a shallow copy of an encoder (its first ``--layers`` transformer layers, its own tokenizer)
for benchmarks that measure docre's pipeline rather than the encoder: reading, featurising,
streaming and writing 20,000 documents through a 6-layer MiniLM takes hours on 2 CPU cores, and
peak RSS is a property of the pipeline, not of the encoder's depth.

    python bench/small_encoder.py --encoder minilm --layers 1 --out /tmp/minilm_1layer
    docre train --config configs/demo.json --model.encoder /tmp/minilm_1layer --train.epochs 1 \
        --train.output_dir /tmp/bench_small
    python bench/bench_scaling.py --model /tmp/bench_small/best_model --data data/redocred/dev_revised.json \
        --sizes 1000,20000 --what predict
"""
from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--encoder", default="minilm", help="encoder name or directory (as model.encoder)")
    p.add_argument("--layers", type=int, default=1, help="transformer layers kept (the first ones)")
    p.add_argument("--out", required=True, help="directory to write the shallow encoder and tokenizer to")
    args = p.parse_args()

    from transformers import AutoConfig, AutoModel, AutoTokenizer

    from docre.models.encoder import resolve_encoder_path

    src = resolve_encoder_path(args.encoder)
    cfg = AutoConfig.from_pretrained(src)
    if args.layers < 1 or args.layers > cfg.num_hidden_layers:
        p.error(f"--layers must be between 1 and {cfg.num_hidden_layers}")
    cfg.num_hidden_layers = args.layers
    model = AutoModel.from_pretrained(src, config=cfg)  # the first layers' weights, the rest dropped
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    AutoTokenizer.from_pretrained(src).save_pretrained(str(out))
    print(f"{args.encoder}: {args.layers} of its layers -> {out}")


if __name__ == "__main__":
    main()
