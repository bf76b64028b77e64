"""Is a trained KMGRE model's key-instance classifier (omega) informative?

For labelled documents, compares omega's p_omega with the E-step pseudo labels zhat that theta
and the gold labels give (spec 3.3, ``kmgre.na_policy threshold_class``), as a ranking AUC:
0.5 = omega ranks key and non-key mention pairs no better than chance. Reported separately for
the mention pairs of entity pairs with a relation (the bags KMGRE is about) and of NA pairs.

    python bench/kmgre_omega.py runs/redocred_dev400_kmgre/best_model \
        data/redocred/dev_revised.json --range 400:
"""
from __future__ import annotations

import argparse

import torch


def ranking_auc(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """P(score of a random positive > score of a random negative), ties counted half."""
    pos, neg = scores[labels > 0.5].double(), scores[labels < 0.5].double()
    if pos.numel() == 0 or neg.numel() == 0:
        return float("nan")
    values = torch.cat([pos, neg])
    order = values.argsort()
    ranks = torch.empty_like(values)
    ranks[order] = torch.arange(1, values.numel() + 1, dtype=values.dtype)
    # average ranks over ties
    uniq, inverse = torch.unique(values, return_inverse=True)
    mean_rank = torch.zeros(uniq.numel(), dtype=values.dtype).index_add_(0, inverse, ranks)
    mean_rank /= torch.bincount(inverse, minlength=uniq.numel()).to(values.dtype)
    ranks = mean_rank[inverse]
    u = ranks[: pos.numel()].sum() - pos.numel() * (pos.numel() + 1) / 2
    return float(u / (pos.numel() * neg.numel()))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="KMGRE model directory")
    p.add_argument("data", help="DocRED-format file with labels")
    p.add_argument("--range", default="", help="document range, e.g. 400:")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=4)
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    from docre.config import parse_range
    from docre.data import read_documents
    from docre.models.batch import collate
    from docre.models.key_pairs import key_instance_pseudo_labels
    from docre.pipeline import Pipeline

    pipe = Pipeline.from_dir(args.model, device="cpu")
    if pipe.model.config.model.head != "kmgre":
        raise SystemExit(f"kmgre_omega: {args.model} has a {pipe.model.config.model.head} head, not kmgre")
    docs = read_documents(args.data)
    docs = [docs[i] for i in parse_range(args.range, len(docs))]
    if any(d.labels is None for d in docs):
        raise SystemExit(f"kmgre_omega: {args.data} needs labels")
    feats = pipe.featurize(docs)
    model = pipe.model
    p_all, z_all, na_all = [], [], []
    with torch.inference_mode():
        for s in range(0, len(feats), args.batch_size):
            batch = collate(feats[s: s + args.batch_size], model.relations.num_classes)
            labels, batch.labels = batch.labels, [None] * len(batch.labels)
            out = model(batch, phase="eval", return_details=True)
            for det, lab in zip(out.details, labels):
                if not det:
                    continue
                z, _ = key_instance_pseudo_labels(torch.sigmoid(det["mention_logits"]), det["pair_index"], lab,
                                                  "threshold_class")
                na = ~(lab[:, 1:] > 0).any(-1)
                p_all.append(det["p_omega"])
                z_all.append(z)
                na_all.append(na[det["pair_index"]])
    p_om, z, na = torch.cat(p_all), torch.cat(z_all), torch.cat(na_all)
    print(f"{args.model} on {len(docs)} documents: {p_om.numel()} mention pairs "
          f"({int((~na).sum())} in entity pairs with a relation)")
    print(f"p_omega: mean {p_om.mean():.3f}, std {p_om.std():.4f}, min {p_om.min():.3f}, max {p_om.max():.3f}")
    print(f"zhat positive rate: {z.mean():.3f} (with a relation {z[~na].mean():.3f}, NA {z[na].mean():.3f})")
    print(f"AUC of p_omega against zhat: all {ranking_auc(p_om, z):.3f}, "
          f"with a relation {ranking_auc(p_om[~na], z[~na]):.3f}, NA {ranking_auc(p_om[na], z[na]):.3f}")


if __name__ == "__main__":
    main()
