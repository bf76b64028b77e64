"""``model.task = relation``: relations between the entities a document gives (DocRED's ``vertexSet``)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence

from docre.config import Config
from docre.data.documents import Document
from docre.data.features import DocFeatures, load_features, report_truncation
from docre.data.relations import RelationInventory
from docre.evaluation import official_scores, write_result_json
from docre.inference import predict
from docre.tasks.base import Evaluation, Split, Task
from docre.tasks.registry import register_task

if TYPE_CHECKING:
    from docre.models.model import DocREModel
    from docre.training.distributed import DataParallel


@register_task("relation")
class RelationTask(Task):
    """Document-level relation extraction given gold entities: relation features (cached by file
    hash), a :class:`~docre.models.model.DocREModel` (encoder + ``model.head``), the official DocRED
    scores (F1, Ign F1, ...) and CodaLab ``result.json`` predictions."""

    def featurize(self, docs: Sequence[Document], tokenizer: Any, relations: RelationInventory, config: Config,
                  *, source: str, data_hash: str, cache_dir: Optional[Path]) -> list[DocFeatures]:
        """Relation features (:func:`docre.data.features.load_features`); truncation is reported."""
        feats = load_features(docs, data_hash, tokenizer, relations, config.data.max_seq_length, cache_dir,
                              progress=config.logging.progress, markers=config.data.entity_markers)
        report_truncation(feats, source, config.data.max_seq_length)
        return feats

    def build_model(self, config: Config, relations: RelationInventory, tokenizer: Any,
                    encoder_config: Any = None) -> "DocREModel":
        from docre.models.model import DocREModel

        return DocREModel.build(config, relations, tokenizer, encoder_config=encoder_config)

    def predict(self, model: "DocREModel", split: Split, config: Config,
                dp: Optional["DataParallel"] = None) -> list[dict[str, Any]]:
        """Relation triples in ``result.json`` form, in document order."""
        if dp is None:
            return predict(model, split.features, config.train.eval_batch_size, progress=config.logging.progress)[0]
        return dp.predict(model, split.features, config.train.eval_batch_size, progress=config.logging.progress)

    def evaluate(self, model: "DocREModel", split: Split, *, train_docs: Optional[Sequence[Document]],
                 tokenizer: Any, config: Config, dp: Optional["DataParallel"] = None) -> Evaluation:
        """Official scores (:func:`docre.evaluation.official_scores`) of the predicted triples.

        With gold evidence in the split and ``evidence.calibrate``: the evidence threshold (and
        KMGRE's key-pair share) is chosen here on the split's evidence F1 and set on the model,
        which saves it (docre.evidence.calibrate); ``rule_evi_f1`` is the simple rule's on the
        same triples."""
        triples = self.predict(model, split, config, dp)
        extra: dict[str, Any] = {}
        if config.evidence.enabled and getattr(model, "supports_evidence", False):
            from docre.evidence.attach import rule_evidence_for
            from docre.evidence.calibrate import choose_evidence_settings, has_gold_evidence

            if has_gold_evidence(split.docs):
                if config.evidence.calibrate:
                    choice = choose_evidence_settings(triples, split.docs)
                    if choice is not None:
                        for ev_cfg in {id(c): c for c in (config.evidence, model.config.evidence)}.values():
                            ev_cfg.threshold, ev_cfg.key_pair_share = choice.threshold, choice.key_pair_share
                        extra.update(evidence_threshold=choice.threshold, evidence_key_pair_share=choice.key_pair_share)
                rule = official_scores(rule_evidence_for(triples, split.docs), split.docs)
                extra["rule_evi_f1"] = rule["evi_f1"]
        return Evaluation({**official_scores(triples, split.docs, train_docs), **extra}, triples)

    def describe(self, scores: dict[str, Any]) -> str:
        text = "dev F1 %.2f  Ign F1 %.2f  (P %.2f R %.2f, %d predicted)" % (
            scores["f1"], scores["ign_f1"], scores["precision"], scores["recall"], scores["num_predicted"])
        if "rule_evi_f1" in scores:
            text += "  evi F1 %.2f (rule %.2f)" % (scores["evi_f1"], scores["rule_evi_f1"])
        return text

    def write_predictions(self, predictions: list[dict[str, Any]], path: Path) -> None:
        """A CodaLab ``result.json``."""
        write_result_json(predictions, path)
