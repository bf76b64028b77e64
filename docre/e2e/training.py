"""What ``docre.training.train`` asks of ``model.task = end_to_end``: the entity type inventory before
the model is built, and the dev evaluation (relations given gold entities, as for any model, plus the
end-to-end scores from the documents' text, prefixed ``e2e_``)."""
from __future__ import annotations

import functools
import logging
from typing import Any, Optional, Sequence

from docre.config import Config
from docre.data.documents import Document
from docre.evaluation.official import official_scores
from docre.inference import predict

logger = logging.getLogger("docre")

#: end-to-end scores logged with the dev scores (the rest are in metrics.jsonl too)
_LOGGED = ("mention_f1", "coref_f1", "entity_f1", "relation_strict_f1")


def entity_types_of(docs: Sequence[Document]) -> list[str]:
    """The mention types of ``docs``, sorted."""
    return sorted({m.type for d in docs for e in d.entities for m in e.mentions})


def prepare_end_to_end(config: Config, train_docs: Sequence[Document]) -> None:
    """Fill ``e2e.entity_types`` from the training documents' mentions when the config leaves it empty."""
    if not config.e2e.entity_types:
        config.e2e.entity_types = entity_types_of(train_docs)
        logger.info("entity types (from the training data): %s", ", ".join(config.e2e.entity_types))


def selection_score(e2e: dict[str, Any]) -> float:
    """``train.select_metric = e2e``: strict relation F1, ties broken by entity F1, then by mention F1
    (F1s are percentages: the tie-breakers add at most 1e-4, less than any real difference in the first)."""
    return e2e["relation_strict_f1"] + 1e-6 * e2e["entity_f1"] + 1e-10 * e2e["mention_f1"]


def evaluate_joint_split(model: Any, docs: Sequence[Document], features: Sequence[Any],
                         train_docs: Optional[Sequence[Document]], config: Config
                         ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Official scores of the relation stage given the split's gold entities, plus ``e2e_*`` scores of
    extraction from the split's text (:func:`docre.e2e.evaluate.score_records`). Returns (scores,
    triples given gold entities) as :func:`docre.training.trainer.evaluate_split` does."""
    from docre.e2e.evaluate import gold_text, score_records
    from docre.e2e.extract import extract_records

    tc = config.train
    triples, _ = predict(model, features, tc.eval_batch_size, progress=config.logging.progress)
    scores: dict[str, Any] = dict(official_scores(triples, docs, train_docs))
    items = [(d.title, gold_text(d)[0]) for d in docs]
    records = extract_records(model, _tokenizer(config.model.encoder), items, tc.eval_batch_size, config.data.max_seq_length,
                              config.logging.progress, total=len(items))
    e2e = score_records(docs, records)
    e2e.pop("relation_strict_by_threshold", None)
    scores.update({f"e2e_{k}": v for k, v in e2e.items()})
    scores["e2e"] = selection_score(e2e)
    logger.info("end to end: mention F1 %.2f  coreference F1 %.2f  entity F1 %.2f  relation strict F1 %.2f",
                *(e2e[k] for k in _LOGGED))
    return scores, triples


@functools.lru_cache(maxsize=2)
def _tokenizer(encoder: str) -> Any:
    """The training run's tokenizer (loaded once per encoder)."""
    from docre.models.encoder import resolve_encoder_path
    from docre.models.model import load_tokenizer

    return load_tokenizer(resolve_encoder_path(encoder))
