"""``model.task = linker``: each entity's knowledge-base title (Wikipedia), or NIL (:mod:`docre.linking`).

``prepare`` builds the alias table from the training documents; the training split is featurised with
each document's own counts left out of the table (and, with ``linker.train_without_candidates``, once
more without the input's candidates); the dev split is scored by linking accuracy
(:func:`docre.linking.evaluate.linking_scores`), and the best model is the one with the highest accuracy
over all annotated entities (``entity_accuracy``).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional, Sequence

from docre.config import Config
from docre.data.documents import Document
from docre.data.relations import RelationInventory
from docre.linking.aliases import AliasTable
from docre.linking.evaluate import linking_scores
from docre.linking.features import LinkFeatures, link_features, without_candidates
from docre.linking.predict import predict_links
from docre.tasks.base import Evaluation, Split, Task
from docre.tasks.registry import register_task

logger = logging.getLogger("docre")


@register_task("linker")
class LinkerTask(Task):
    """Entity linking with :class:`~docre.linking.model.LinkerModel`."""

    def __init__(self) -> None:
        self.aliases = AliasTable()
        self.train_titles: list[str] = []
        self.cache_dir: Optional[Path] = None

    def prepare(self, config: Config, train_docs: Sequence[Document]) -> None:
        """The alias table of the training documents."""
        self.aliases = AliasTable.from_documents(train_docs)
        self.train_titles = [d.title for d in train_docs]
        logger.info("alias table: %d surface forms, %d titles", len(self.aliases.forms), len(self.aliases.title_count))

    def featurize(self, docs: Sequence[Document], tokenizer: Any, relations: RelationInventory, config: Config,
                  *, source: str, data_hash: str, cache_dir: Optional[Path]) -> list[LinkFeatures]:
        """Linker features; the training split (the documents ``prepare`` saw) leaves each document's own
        counts out of the alias table and, with ``linker.train_without_candidates``, comes twice."""
        lc, msl = config.linker, config.data.max_seq_length
        self.cache_dir = cache_dir
        is_train = [d.title for d in docs] == self.train_titles
        leave_out = set(self.train_titles) if is_train else None
        feats = link_features(docs, tokenizer, self.aliases, lc, msl, leave_out=leave_out,
                              progress=config.logging.progress)
        if is_train and lc.train_without_candidates:
            feats += link_features([without_candidates(d) for d in docs], tokenizer, self.aliases, lc, msl,
                                   leave_out=leave_out, progress=config.logging.progress)
        return feats

    def build_model(self, config: Config, relations: RelationInventory, tokenizer: Any,
                    encoder_config: Any = None) -> Any:
        from docre.linking.model import LinkerModel

        model = LinkerModel.build(config, relations, tokenizer, encoder_config=encoder_config)
        model.aliases = self.aliases
        path = self._encodings_path(model)
        if path is not None:
            n = model.load_encodings(path)
            if n:
                logger.info("linker: %d cached encodings of the frozen encoder read from %s", n, path)
        return model

    def _encodings_path(self, model: Any) -> Optional[Path]:
        """Where the frozen encoder's outputs are kept between runs (``data.cache``: beside the feature cache)."""
        if self.cache_dir is None:
            return None
        return Path(self.cache_dir) / f"linker_encodings_{model.encoder_fingerprint()}.safetensors"

    def predict(self, model: Any, split: Split, config: Config, dp: Any = None) -> list[dict[str, Any]]:
        """Per document: its title and, per entity, ``{"link", "link_score"}``."""
        decisions = predict_links(model, split.features, config.train.eval_batch_size)
        return [{"title": d.title, "entities": [{"link": t, "link_score": s} for t, s in dec]}
                for d, dec in zip(split.docs, decisions)]

    def evaluate(self, model: Any, split: Split, *, train_docs: Optional[Sequence[Document]], tokenizer: Any,
                 config: Config, dp: Any = None) -> Evaluation:
        """Linking accuracy of the split (and the prior baseline's; every process links the whole split)."""
        preds = self.predict(model, split, config)
        path = self._encodings_path(model)
        if path is not None and model.save_encodings(path):
            logger.info("linker: encodings of the frozen encoder cached in %s", path)
        links = [[e["link"] for e in p["entities"]] for p in preds]
        return Evaluation(linking_scores(links, split.docs, aliases=self.aliases), preds)

    def selection_score(self, scores: dict[str, Any], config: Config) -> float:
        return float(scores["entity_accuracy"])

    def describe(self, scores: dict[str, Any]) -> str:
        return ("dev linking: linked %.2f  NIL %.2f  entities %.2f  mentions %.2f  (prior: linked %.2f  NIL %.2f)"
                % (scores["linked_accuracy"], scores["nil_accuracy"], scores["entity_accuracy"],
                   scores["mention_accuracy"], scores["prior_linked_accuracy"], scores["prior_nil_accuracy"]))
