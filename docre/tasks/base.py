"""What a training task is: the interface the training loop calls without knowing which task it runs."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Optional, Sequence

from docre.config import Config
from docre.data.documents import Document
from docre.data.features import DocFeatures
from docre.data.relations import RelationInventory
from docre.errors import ConfigError
from docre.utils.io import atomic_write_json

if TYPE_CHECKING:
    from docre.models.model import DocREModel
    from docre.training.distributed import DataParallel


@dataclass
class Split:
    """A data split: its file, its documents (sliced by the config's range) and their features."""

    path: Path
    docs: list[Document]
    features: list[DocFeatures]


@dataclass
class Evaluation:
    """What evaluating a split gives: ``scores`` (logged as ``dev_<name>`` in ``metrics.jsonl``; one
    of them selects the best model) and ``predictions`` (written as ``dev_predictions.json`` by
    :meth:`Task.write_predictions` when the model is the best so far)."""

    scores: dict[str, Any]
    predictions: list[dict[str, Any]]


class Task(ABC):
    """What ``docre train`` learns: its data, model, evaluation and model selection.

    The trainer (:class:`docre.training.trainer.Trainer`) calls, in this order:

    1. :meth:`prepare` with the training documents (complete the config before anything is built);
    2. :meth:`featurize` for the train, dev and test splits;
    3. :meth:`build_model`;
    4. during training, :meth:`evaluate` on the dev split, :meth:`describe` and
       :meth:`selection_score` of its scores; at a new best, :meth:`predict` on the test split and
       :meth:`write_predictions` for both.

    The loss is the model's own (``model(batch, phase=...)`` returns a
    :class:`~docre.models.batch.HeadOutput`); the optimiser, schedule, checkpoints and logging are
    the trainer's and the same for every task.

    A new task plugs in by subclassing ``Task`` (or :class:`~docre.tasks.relation.RelationTask`, to
    keep the relation features and evaluation) and registering it under its ``model.task`` name::

        from docre.tasks import Evaluation, register_task
        from docre.tasks.relation import RelationTask

        @register_task("entity_linking")
        class EntityLinkingTask(RelationTask):
            def build_model(self, config, relations, tokenizer, encoder_config=None):
                return LinkingModel.build(config, relations, tokenizer, encoder_config=encoder_config)

            def evaluate(self, model, split, *, train_docs, tokenizer, config, dp=None):
                predictions = link_documents(model, split.features)
                return Evaluation(linking_scores(predictions, split.docs), predictions)

    The module is then added to :data:`docre.tasks.registry.TASK_MODULES` (a task shipped with
    docre) or imported before training (a task of your own), and the name to the choices of
    ``model.task`` (:class:`docre.config.ModelConfig`). The trainer does not change.
    """

    #: the ``model.task`` value this task is registered under (set by ``register_task``)
    name: ClassVar[str] = ""

    def prepare(self, config: Config, train_docs: Sequence[Document]) -> None:
        """Complete ``config`` from the training documents before features and model are built
        (e.g. an inventory the config leaves empty). Default: nothing."""

    @abstractmethod
    def featurize(self, docs: Sequence[Document], tokenizer: Any, relations: RelationInventory, config: Config,
                  *, source: str, data_hash: str, cache_dir: Optional[Path]) -> list[DocFeatures]:
        """The model inputs of one split's documents. ``source`` names the split in messages
        (``file[range]``); ``data_hash`` identifies the file's content and ``cache_dir`` is where
        features may be cached (None: no cache)."""

    @abstractmethod
    def build_model(self, config: Config, relations: RelationInventory, tokenizer: Any,
                    encoder_config: Any = None) -> "DocREModel":
        """A fresh model for ``config`` (``encoder_config``: an untrained encoder of that
        architecture instead of pretrained weights). It saves and loads as a model directory."""

    @abstractmethod
    def predict(self, model: "DocREModel", split: Split, config: Config,
                dp: Optional["DataParallel"] = None) -> list[dict[str, Any]]:
        """Predictions of ``split`` (the test split at each new best dev point), in the form
        :meth:`write_predictions` writes; spread across the processes of ``dp`` when given."""

    @abstractmethod
    def evaluate(self, model: "DocREModel", split: Split, *, train_docs: Optional[Sequence[Document]],
                 tokenizer: Any, config: Config, dp: Optional["DataParallel"] = None) -> Evaluation:
        """Scores and predictions of ``split`` (``train_docs``: for scores that leave out facts
        seen in training)."""

    def selection_score(self, scores: dict[str, Any], config: Config) -> float:
        """The number that picks the best model: higher is better, and it must be above -1 (where the
        trainer's best starts; F1s in percent are). Default: the score named by ``train.select_metric``."""
        metric = config.train.select_metric
        if metric not in scores:
            raise ConfigError(f"train.select_metric = {metric!r}: model.task = {self.name!r} gives no such score "
                              f"(it gives: {', '.join(sorted(scores))})")
        return float(scores[metric])

    def describe(self, scores: dict[str, Any]) -> str:
        """One line of the scores for the console log. Default: every number, two decimals."""
        return "  ".join(f"{k} {v:.2f}" for k, v in scores.items() if isinstance(v, (int, float)))

    def write_predictions(self, predictions: list[dict[str, Any]], path: Path) -> None:
        """Write ``predictions`` to ``path`` atomically. Default: a JSON list."""
        atomic_write_json(path, predictions)
