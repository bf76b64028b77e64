"""Linking baselines on DocRED-format files with links and candidates (data_prep.convert_dwie output):
the candidate prior, the alias table built from the training file (the raw-text case), and the
ceilings (the gold title among the entity's candidates). Prints a table; no model, no encoder.

    python bench/linking_baselines.py --train data/dwie/train_linked.json --dev data/dwie/dev_linked.json
"""
from __future__ import annotations

import argparse

from docre.data.reader import read_documents
from docre.linking.aliases import AliasTable
from docre.linking.evaluate import accuracy, prior_links
from docre.linking.features import gold_link, without_candidates


def ceiling(docs, aliases=None, k: int = 16) -> float:
    """Share (%) of linked entities whose gold title is among the candidates of its mentions."""
    n = hit = 0
    for d in docs:
        for e in d.entities:
            annotated, link = gold_link(e)
            if not annotated or link is None:
                continue
            n += 1
            titles = set()
            for m in e.mentions:
                cands = m.candidates if m.candidates is not None else aliases.candidates(m.name, k)
                titles.update(t for t, _ in cands)
            hit += link in titles
    return round(100.0 * hit / max(1, n), 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", required=True, help="training file (alias table)")
    ap.add_argument("--dev", required=True, help="file to score")
    ap.add_argument("--alias-candidates", type=int, default=16, help="alias-table candidates per mention")
    args = ap.parse_args()
    aliases = AliasTable.from_documents(read_documents(args.train))
    dev = read_documents(args.dev)
    raw = [without_candidates(d) for d in dev]
    rows = [("candidate prior", accuracy([prior_links(d) for d in dev], dev), ceiling(dev)),
            ("alias table only", accuracy([prior_links(d, aliases, args.alias_candidates) for d in raw], dev),
             ceiling(raw, aliases, args.alias_candidates))]
    print(f"{'baseline':<18}{'linked':>9}{'NIL':>9}{'entities':>10}{'mentions':>10}{'ceiling':>9}")
    for name, s, c in rows:
        print(f"{name:<18}{s['linked_accuracy']:>9.2f}{s['nil_accuracy']:>9.2f}{s['entity_accuracy']:>10.2f}"
              f"{s['mention_accuracy']:>10.2f}{c:>9.2f}")
    s = rows[0][1]
    print(f"({len(dev)} documents: {s['linked_entities']} entities with a link, {s['nil_entities']} NIL, "
          f"{s['mentions']} mentions; alias table of {len(aliases.forms)} surface forms)")


if __name__ == "__main__":
    main()
