"""Evidence: the sentences behind every predicted triple (docs/evidence.md).

- :mod:`docre.evidence.scores`: per-sentence scores from the entity pair's localized-context
  attention (ATLOP, the rule of DREEAM) and from KMGRE's key mention pairs; the simple rule.
- :mod:`docre.evidence.attach`: scores and evidence lists on predicted triples.
- :mod:`docre.evidence.calibrate`: the threshold (and KMGRE's key-pair share) chosen on dev.
- :mod:`docre.evidence.loss`: evidence supervision of the pair attention (``train.evidence_weight``).
"""
