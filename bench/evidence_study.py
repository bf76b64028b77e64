"""Evidence F1 of docre's evidence scores against the simple rule, on the same triples.

Prints, for the triples a model predicts on a split with gold evidence (or, with --oracle,
for the gold triples themselves, which isolates evidence from relation errors):

- the simple rule (sentences holding mentions of both entities, else of either);
- the model's evidence with the threshold (and KMGRE key-pair share) chosen on the same
  documents (in-sample, as ``docre train`` chooses it on dev);
- the same chosen on one half of the documents and scored on the other (two folds, summed
  counts): an honest estimate for unseen documents;
- with --time: the prediction time with and without evidence (median of --repeats).

    python bench/evidence_study.py --model runs/x/best_model \\
        --data ../shared/data/redocred/dev_revised.json --range 400:
    python bench/evidence_study.py --encoder minilm --oracle \\
        --data ../shared/data/redocred/dev_revised.json --range 400:   # untrained head: encoder attention only
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _load(args: argparse.Namespace) -> tuple[Any, Any]:
    from docre.models.model import DocREModel, load_tokenizer

    if args.model:
        return DocREModel.load(args.model, device="cpu")
    from docre.config import load_config
    from docre.data import read_documents
    from docre.data.relations import RelationInventory
    from docre.models.encoder import resolve_encoder_path
    from docre.tasks.relation import RelationTask

    cfg = load_config(overrides={"model.encoder": args.encoder, "model.head": "atlop", "train.device": "cpu"})
    tok = load_tokenizer(resolve_encoder_path(args.encoder))
    docs = read_documents(args.data)
    rel = RelationInventory.from_relations(f.r for d in docs for f in d.labels or [])
    model = RelationTask().build_model(cfg, rel, tok)
    model.eval()
    return model, tok


def _gold_triples(docs: list) -> list[dict[str, Any]]:
    return [{"title": d.title, "h_idx": f.h, "t_idx": f.t, "r": f.r} for d in docs for f in d.labels or []]


def _scored_triples(model: Any, feats: list, docs: list, oracle: bool, batch_size: int) -> list[dict[str, Any]]:
    """Predicted triples with evidence parts, or (oracle) the gold triples with the model's parts."""
    import torch

    from docre.evidence.attach import attach_evidence
    from docre.inference import predict
    from docre.models.batch import collate

    if not oracle:
        return predict(model, feats, batch_size)[0]
    gold = _gold_triples(docs)
    by_title: dict[str, list] = {}
    for t in gold:
        by_title.setdefault(t["title"], []).append(t)
    with torch.inference_mode():
        for s in range(0, len(feats), batch_size):
            chunk = feats[s: s + batch_size]
            batch = collate(chunk, model.relations.num_classes)
            batch.labels = [None] * len(chunk)
            out = model(batch, phase="eval", return_evidence=True)
            for b, f in enumerate(chunk):
                ts = [t for t in by_title.get(f.title, []) if t["r"] in model.relations]
                attach_evidence(ts, f, out.evidence[b], model.relations.ids, model.config.evidence)
    return [t for t in gold if "evidence" in t]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="model directory (default: an untrained ATLOP head on --encoder)")
    p.add_argument("--encoder", default="minilm", help="encoder of the untrained model without --model")
    p.add_argument("--data", required=True, help="DocRED-format file with gold evidence")
    p.add_argument("--range", default="", help="document slice, e.g. 400:")
    p.add_argument("--oracle", action="store_true", help="score evidence on the gold triples")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--time", action="store_true", help="also time prediction with and without evidence")
    p.add_argument("--repeats", type=int, default=3, help="timing repeats (median)")
    args = p.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from docre.config import parse_range
    from docre.data import read_documents
    from docre.data.features import featurize_documents
    from docre.evaluation import official_scores
    from docre.evidence.attach import apply_evidence, rule_evidence_for
    from docre.evidence.calibrate import choose_evidence_settings

    model, tok = _load(args)
    docs = read_documents(args.data)
    docs = [docs[i] for i in parse_range(args.range, len(docs))]
    feats = featurize_documents(docs, tok, model.relations, model.config.data.max_seq_length,
                                markers=model.config.data.entity_markers)
    t0 = time.perf_counter()
    triples = _scored_triples(model, feats, docs, args.oracle, args.batch_size)
    print(f"{len(docs)} documents, {len(triples)} {'gold' if args.oracle else 'predicted'} triples "
          f"({time.perf_counter() - t0:.1f} s)")
    rel = official_scores(triples, docs)
    print(f"relation F1 {rel['f1']:.2f} (P {rel['precision']:.2f} R {rel['recall']:.2f})")
    rule = official_scores(rule_evidence_for(triples, docs), docs)
    print(f"rule              evi P {rule['evi_precision']:6.2f} R {rule['evi_recall']:6.2f} F1 {rule['evi_f1']:6.2f}")
    apply_evidence(triples, model.config.evidence.threshold, model.config.evidence.key_pair_share)
    saved = official_scores(triples, docs)
    print(f"model (saved th {model.config.evidence.threshold:.2f}, share {model.config.evidence.key_pair_share:.2f}) "
          f"evi P {saved['evi_precision']:6.2f} R {saved['evi_recall']:6.2f} F1 {saved['evi_f1']:6.2f}")
    best = choose_evidence_settings(triples, docs)
    print(f"model (in-sample th {best.threshold:.2f}, share {best.key_pair_share:.2f}) "
          f"evi P {best.evi_precision:6.2f} R {best.evi_recall:6.2f} F1 {best.evi_f1:6.2f}")
    # two folds: settings chosen on one half of the documents, scored on the other
    half = {d.title for d in docs[: len(docs) // 2]}
    folds = [[t for t in triples if t["title"] in half], [t for t in triples if t["title"] not in half]]
    gold_folds = [[d for d in docs if d.title in half], [d for d in docs if d.title not in half]]
    chosen = []
    for k in (0, 1):
        c = choose_evidence_settings(folds[k], gold_folds[k])
        chosen.append(c)
        apply_evidence(folds[1 - k], c.threshold, c.key_pair_share)
    # both halves now carry the other half's choice
    cross = official_scores(folds[0] + folds[1], docs)
    print(f"model (2-fold: th {chosen[0].threshold:.2f}/{chosen[1].threshold:.2f}, share "
          f"{chosen[0].key_pair_share:.2f}/{chosen[1].key_pair_share:.2f}) evi P {cross['evi_precision']:6.2f} "
          f"R {cross['evi_recall']:6.2f} F1 {cross['evi_f1']:6.2f}")
    if args.time:
        from docre.inference import predict

        times = {True: [], False: []}
        for _ in range(args.repeats):
            for flag in (False, True):
                model.config.evidence.enabled = flag
                t0 = time.perf_counter()
                predict(model, feats, args.batch_size)
                times[flag].append(time.perf_counter() - t0)
        off, on = statistics.median(times[False]), statistics.median(times[True])
        print(f"prediction: {off:.2f} s without evidence, {on:.2f} s with (+{100 * (on / off - 1):.1f}%), "
              f"median of {args.repeats}")


if __name__ == "__main__":
    main()
