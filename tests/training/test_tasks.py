"""The task interface: the registry ``model.task`` picks from, and a task registered outside the
trainer driving a training run (preparation, features, model, evaluation, model selection, output)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from docre.errors import ConfigError
from docre.tasks import TASKS, Evaluation, Task, get_task, register_task
from docre.tasks.end_to_end import EndToEndTask, entity_types_of
from docre.tasks.relation import RelationTask
from docre.training import train


def test_registry_gives_the_built_in_tasks() -> None:
    assert type(get_task("relation")) is RelationTask
    assert type(get_task("end_to_end")) is EndToEndTask
    assert get_task("relation") is not get_task("relation")  # a fresh task per run
    assert {"relation", "end_to_end"} <= set(TASKS)


def test_unknown_task_is_a_config_error_naming_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"model.task = 'nope': unknown task \(known: .*end_to_end.*relation"):
        get_task("nope")


def test_registering_a_second_class_under_a_taken_name_is_refused() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        register_task("relation")(type("Other", (RelationTask,), {}))


def test_end_to_end_prepare_fills_entity_types_only_when_empty(fixture_docs_path: Path) -> None:
    from docre.config import load_config
    from docre.data import read_documents

    docs = read_documents(fixture_docs_path)
    config = load_config(overrides={"model.task": "end_to_end"})
    EndToEndTask().prepare(config, docs)
    assert config.e2e.entity_types == entity_types_of(docs) == sorted(
        {m.type for d in docs for e in d.entities for m in e.mentions})
    config.e2e.entity_types = ["PER"]
    EndToEndTask().prepare(config, docs)
    assert config.e2e.entity_types == ["PER"]


def test_default_selection_score_names_the_missing_metric() -> None:
    from docre.config import load_config

    config = load_config(overrides={"train.select_metric": "ign_f1"})
    assert RelationTask().selection_score({"ign_f1": 12.5, "f1": 20.0}, config) == 12.5
    with pytest.raises(ConfigError, match=r"train.select_metric = 'ign_f1'.*gives: f1"):
        RelationTask().selection_score({"f1": 20.0}, config)


CALLS: list[str] = []


@register_task("recording_test_task")
class RecordingTask(RelationTask):
    """The relation task, recording what the trainer asks of it; it selects the *earliest* dev
    evaluation (a score that falls with each one) and writes predictions in its own format."""

    def __init__(self) -> None:
        self.evaluations = 0

    def prepare(self, config: Any, train_docs: Any) -> None:
        CALLS.append(f"prepare:{len(train_docs)}")

    def featurize(self, docs: Any, *args: Any, **kwargs: Any) -> Any:
        CALLS.append(f"featurize:{kwargs['source']}")
        return super().featurize(docs, *args, **kwargs)

    def build_model(self, *args: Any, **kwargs: Any) -> Any:
        CALLS.append("build_model")
        return super().build_model(*args, **kwargs)

    def evaluate(self, model: Any, split: Any, **kwargs: Any) -> Evaluation:
        self.evaluations += 1
        CALLS.append("evaluate")
        ev = super().evaluate(model, split, **kwargs)
        return Evaluation({**ev.scores, "order": 100 - self.evaluations}, ev.predictions)

    def selection_score(self, scores: dict[str, Any], config: Any) -> float:
        return scores["order"]

    def predict(self, *args: Any, **kwargs: Any) -> Any:
        CALLS.append("predict")
        return super().predict(*args, **kwargs)

    def write_predictions(self, predictions: Any, path: Path) -> None:
        CALLS.append(f"write:{path.name}")
        Task.write_predictions(self, [{"n": len(predictions)}], path)


def test_a_registered_task_drives_training_without_trainer_changes(tiny_encoder_dir: Path, tmp_path: Path,
                                                                   fixture_docs_path: Path) -> None:
    from conftest import tiny_config

    CALLS.clear()
    config = tiny_config(tiny_encoder_dir, tmp_path / "run", fixture_docs_path, **{
        "train.epochs": 4, "train.batch_size": 3, "train.eval_every": 2, "train.num_threads": 1,
        "data.test_file": str(fixture_docs_path)})
    config.model.task = "recording_test_task"  # not a choice of the config file: set after validation
    res = train(config)
    path = str(fixture_docs_path)
    assert CALLS[:5] == ["prepare:3", f"featurize:{path}", f"featurize:{path}", f"featurize:{path}", "build_model"]
    # two dev evaluations (steps 2 and 4; the relation evaluation predicts the dev split); only the first
    # is the best by this task's score: the test split is predicted and both predictions written then
    assert CALLS[5:] == ["evaluate", "predict", "predict", "write:dev_predictions.json", "write:result.json",
                         "evaluate", "predict"]
    assert res.best_epoch == 2.0 and res.best_metrics["order"] == 99
    assert [h["dev_order"] for h in res.history] == [99, 98]
    assert json.loads((res.run_dir / "dev_predictions.json").read_text()) == [{"n": res.best_metrics["num_predicted"]}]
    assert json.loads((res.run_dir / "best_model" / "metrics.json").read_text())["order"] == 99
