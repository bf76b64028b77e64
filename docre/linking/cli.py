"""``docre evaluate --linking``: the accuracy table of a docre link output or of a linker model."""
from __future__ import annotations

import argparse
from typing import Any, Optional

from docre.errors import DocreError
from docre.linking.evaluate import format_linking, linking_scores, predicted_links
from docre.linking.features import without_candidates
from docre.linking.predict import link_documents, read_raw_documents, require_linker


def evaluate_linking(args: argparse.Namespace, pipeline: Optional[Any]) -> int:
    """Print (and with ``--out`` write) the linking table; ``pipeline``: a loaded linker for ``--model``."""
    from docre.utils.io import atomic_write_json

    if bool(args.pred) == bool(pipeline):
        raise DocreError("docre evaluate --linking needs either --pred (a docre link output) or --model (a linker)")
    if args.no_candidates and pipeline is None:
        raise DocreError("--no-candidates drops the gold candidates before --model links them; it needs --model")
    _, gold = read_raw_documents(args.gold)
    aliases = None
    if pipeline is not None:
        model = require_linker(pipeline.model, str(args.model))
        aliases = model.aliases
        inputs = [without_candidates(d) for d in gold] if args.no_candidates else gold
        decisions = link_documents(model, pipeline.tokenizer, inputs, pipeline.batch_size, pipeline.max_seq_length)
        links = [[t for t, _ in dec] for dec in decisions]
        source = f"{args.model} on {args.gold}" + (" without candidates" if args.no_candidates else "")
    else:
        _, pred = read_raw_documents(args.pred)
        links = predicted_links(pred, gold, str(args.pred))
        inputs = [p for g in gold for p in pred if p.title == g.title]
        source = str(args.pred)
    scores = linking_scores(links, gold, baseline_docs=inputs, aliases=aliases)
    print(f"entity linking, {len(gold)} documents ({source}):")
    print(format_linking(scores, baseline="prior baseline" if aliases is None else "prior (+ aliases)"))
    if args.out:
        atomic_write_json(args.out, scores)
    return 0
