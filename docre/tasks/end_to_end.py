"""``model.task = end_to_end``: mentions, their types and entities, then relations, from plain text.

The relation stage trains and is scored as in :class:`~docre.tasks.relation.RelationTask` (given the
gold entities); the features also carry each document's span view and gold mentions
(:func:`docre.e2e.features.attach_span_features`), the model is a :class:`docre.e2e.model.JointModel`,
and the dev evaluation adds end-to-end scores of extraction from the documents' text, prefixed
``e2e_`` (:func:`docre.e2e.evaluate.score_records`).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence

from docre.config import Config
from docre.data.documents import Document
from docre.data.features import DocFeatures
from docre.data.relations import RelationInventory
from docre.evaluation.official import official_scores
from docre.inference import predict
from docre.tasks.base import Evaluation, Split
from docre.tasks.registry import register_task
from docre.tasks.relation import RelationTask

if TYPE_CHECKING:
    from docre.models.model import DocREModel
    from docre.training.distributed import DataParallel

logger = logging.getLogger("docre")

#: end-to-end scores logged with the dev scores (the rest are in metrics.jsonl too)
_LOGGED = ("mention_f1", "coref_f1", "entity_f1", "relation_strict_f1")


def entity_types_of(docs: Sequence[Document]) -> list[str]:
    """The mention types of ``docs``, sorted."""
    return sorted({m.type for d in docs for e in d.entities for m in e.mentions})


def selection_score(e2e: dict[str, Any]) -> float:
    """``train.select_metric = e2e``: strict relation F1, ties broken by entity F1, then by mention F1
    (F1s are percentages: the tie-breakers add at most 1e-4, less than any real difference in the first)."""
    return e2e["relation_strict_f1"] + 1e-6 * e2e["entity_f1"] + 1e-10 * e2e["mention_f1"]


@register_task("end_to_end")
class EndToEndTask(RelationTask):
    """Relation extraction plus mention detection, typing and coreference in one joint model."""

    def prepare(self, config: Config, train_docs: Sequence[Document]) -> None:
        """Fill ``e2e.entity_types`` from the training documents' mentions when the config leaves it empty."""
        if not config.e2e.entity_types:
            config.e2e.entity_types = entity_types_of(train_docs)
            logger.info("entity types (from the training data): %s", ", ".join(config.e2e.entity_types))

    def featurize(self, docs: Sequence[Document], tokenizer: Any, relations: RelationInventory, config: Config,
                  *, source: str, data_hash: str, cache_dir: Optional[Path]) -> list[DocFeatures]:
        """The relation features with each document's span view and gold mentions, types and clusters."""
        from docre.e2e.features import attach_span_features

        feats = super().featurize(docs, tokenizer, relations, config, source=source, data_hash=data_hash,
                                  cache_dir=cache_dir)
        return attach_span_features(docs, feats, tokenizer, relations, config)

    def build_model(self, config: Config, relations: RelationInventory, tokenizer: Any,
                    encoder_config: Any = None) -> "DocREModel":
        from docre.e2e.model import JointModel

        return JointModel.build(config, relations, tokenizer, encoder_config=encoder_config)

    def evaluate(self, model: "DocREModel", split: Split, *, train_docs: Optional[Sequence[Document]],
                 tokenizer: Any, config: Config, dp: Optional["DataParallel"] = None) -> Evaluation:
        """Official scores of the relation stage given the split's gold entities, plus ``e2e_*`` scores
        of extraction from the split's text and ``e2e`` (:func:`selection_score`). Every process
        evaluates the whole split (``dp`` is not used)."""
        from docre.e2e.evaluate import gold_text, score_records
        from docre.e2e.extract import extract_records

        tc = config.train
        triples, _ = predict(model, split.features, tc.eval_batch_size, progress=config.logging.progress)
        scores: dict[str, Any] = dict(official_scores(triples, split.docs, train_docs))
        items = [(d.title, gold_text(d)[0]) for d in split.docs]
        records = extract_records(model, tokenizer, items, tc.eval_batch_size, config.data.max_seq_length,
                                  config.logging.progress, total=len(items))
        e2e = score_records(split.docs, records)
        e2e.pop("relation_strict_by_threshold", None)
        scores.update({f"e2e_{k}": v for k, v in e2e.items()})
        scores["e2e"] = selection_score(e2e)
        logger.info("end to end: mention F1 %.2f  coreference F1 %.2f  entity F1 %.2f  relation strict F1 %.2f",
                    *(e2e[k] for k in _LOGGED))
        return Evaluation(scores, triples)
