"""The training loop on a tiny memorisation task (train = dev = tests/fixtures/docs.json)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from docre.data import read_documents
from docre.errors import TrainingError
from docre.evaluation import official_scores
from docre.training import TrainResult, train

# One optimisation step per epoch (3 documents), one thread (fastest for the tiny model on a shared
# machine), a high learning rate so that the tiny model memorises the 7 facts within ~30-40 epochs.
FAST: dict[str, Any] = {"train.batch_size": 3, "train.num_threads": 1, "train.lr_encoder": 3e-3,
                        "train.lr_new": 3e-3, "train.eval_every": 10, "logging.log_every": 1}
MODEL_FILES = ("config.json", "model.safetensors", "relations.json", "encoder/config.json", "tokenizer", "metrics.json")


def _train(encoder_dir: Path, run_dir: Path, docs_path: Path, **overrides: Any) -> TrainResult:
    from conftest import tiny_config

    return train(tiny_config(encoder_dir, run_dir, docs_path, **{**FAST, **overrides}))


def _records(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _step_records(run_dir: Path) -> list[dict[str, Any]]:
    return [r for r in _records(run_dir) if "phase" in r]


def _key(t: dict[str, Any]) -> tuple:
    return (t["title"], t["h_idx"], t["t_idx"], t["r"])


@pytest.fixture(scope="module")
def fixture_path() -> Path:
    return Path(__file__).parents[1] / "fixtures" / "docs.json"


@pytest.fixture(scope="module")
def atlop_run(tiny_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory, fixture_path: Path) -> TrainResult:
    run = tmp_path_factory.mktemp("atlop") / "run"
    return _train(tiny_encoder_dir, run, fixture_path, **{"model.head": "atlop", "train.epochs": 60,
                                                          "data.test_file": str(fixture_path)})


@pytest.fixture(scope="module")
def kmgre_run(tiny_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory, fixture_path: Path) -> TrainResult:
    run = tmp_path_factory.mktemp("kmgre") / "run"
    return _train(tiny_encoder_dir, run, fixture_path, **{"model.head": "kmgre", "train.epochs": 60,
                                                          "kmgre.warmup_epochs": 10, "kmgre.em_period": -1})


# ---------------------------------------------------------------- ATLOP memorises


def test_atlop_loss_falls_and_dev_f1_reaches_80(atlop_run: TrainResult) -> None:
    steps = _step_records(atlop_run.run_dir)
    assert [r["step"] for r in steps] == list(range(1, 61))
    assert {r["phase"] for r in steps} == {"joint"}
    losses = [r["loss"] for r in steps]
    last = sum(losses[-5:]) / 5
    assert last < 0.3 * losses[0], (losses[0], last)
    assert atlop_run.best_metrics["f1"] >= 80.0
    assert [h["epoch"] for h in atlop_run.history] == [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]
    assert atlop_run.history[0]["dev_num_gold"] == 7


def test_atlop_run_directory(atlop_run: TrainResult, fixture_path: Path) -> None:
    run = atlop_run.run_dir
    best = run / "best_model"
    for name in MODEL_FILES:
        assert (best / name).exists(), name
    ids = json.loads((best / "relations.json").read_text())["ids"]
    assert ids == ["Na", "P17", "P19", "P27", "P108", "P131", "P159"]
    saved = json.loads((best / "metrics.json").read_text())
    assert saved["f1"] == atlop_run.best_metrics["f1"] and saved["epoch"] == atlop_run.best_epoch
    assert json.loads((run / "config.json").read_text())["model"]["head"] == "atlop"
    # the best model's dev predictions score what training reported
    dev_pred = json.loads((run / "dev_predictions.json").read_text())
    gold = read_documents(fixture_path)
    assert official_scores(dev_pred, gold, gold)["f1"] == pytest.approx(atlop_run.best_metrics["f1"])
    # a test file was given: its predictions at the best dev point (test = dev here)
    result = json.loads((run / "result.json").read_text())
    assert sorted(map(_key, result)) == sorted(map(_key, dev_pred))
    assert all(set(t) == {"title", "h_idx", "t_idx", "r", "evidence"} for t in result)
    last = _records(run)[-1]
    assert last["best_f1"] == atlop_run.best_metrics["f1"] and last["best_epoch"] == atlop_run.best_epoch


# ---------------------------------------------------------------- KMGRE memorises


def test_kmgre_loss_falls_and_predictions_become_correct(kmgre_run: TrainResult) -> None:
    steps = _step_records(kmgre_run.run_dir)
    assert [r["phase"] for r in steps] == ["warmup"] * 10 + ["joint"] * 50
    theta = [r["loss_theta"] for r in steps]
    assert sum(theta[-5:]) / 5 < 0.3 * theta[0], (theta[0], theta[-5:])
    em_theta = theta[10:]
    assert sum(em_theta[-5:]) / 5 < 0.6 * em_theta[0]  # it keeps falling in the EM phase (fused key pairs)
    assert kmgre_run.best_metrics["f1"] >= 80.0
    assert kmgre_run.best_epoch > 10  # reached by the KMGRE head, not only the entity-level warm-up


def test_kmgre_logs_its_statistics(kmgre_run: TrainResult) -> None:
    steps = _step_records(kmgre_run.run_dir)
    for r in steps:
        assert {"loss", "loss_theta", "key_fraction", "tau", "lr"} <= set(r)
        assert 0.0 < r["key_fraction"] <= 1.0
    for r in steps[10:]:  # EM phase with em_period = -1: both losses every step
        assert {"loss_omega", "zhat_pos_rate"} <= set(r)
        assert r["loss"] == pytest.approx(r["loss_theta"] + r["loss_omega"], rel=1e-5)
        assert 0.0 <= r["zhat_pos_rate"] <= 1.0
    taus = [r["tau"] for r in steps]
    assert taus[:11] == [pytest.approx(0.5)] * 11  # flat through the warm-up, tau_start at the first EM step
    assert all(b > a for a, b in zip(taus[10:], taus[11:]))  # rises over the EM phase
    assert taus[-1] == pytest.approx(0.5 + 0.4 * 49 / 50)
    for name in MODEL_FILES:
        assert (kmgre_run.run_dir / "best_model" / name).exists(), name


def test_kmgre_em_alternation_per_epoch(tiny_encoder_dir: Path, tmp_path: Path, fixture_path: Path) -> None:
    result = _train(tiny_encoder_dir, tmp_path / "run", fixture_path,
                    **{"model.head": "kmgre", "train.epochs": 10, "kmgre.warmup_epochs": 4, "kmgre.em_period": 0})
    steps = _step_records(result.run_dir)
    assert [r["phase"] for r in steps] == ["warmup"] * 4 + ["e", "m"] * 3
    for r in steps:
        assert ("loss_theta" in r) == (r["phase"] in ("warmup", "m"))
        assert ("zhat_pos_rate" in r) == ("loss_omega" in r)
        if r["phase"] != "warmup":
            assert ("loss_omega" in r) == (r["phase"] == "e")


# ---------------------------------------------------------------- stopping


def test_max_steps_stops_early(tiny_encoder_dir: Path, tmp_path: Path, fixture_path: Path) -> None:
    result = _train(tiny_encoder_dir, tmp_path / "run", fixture_path,
                    **{"train.epochs": 10, "train.batch_size": 2, "train.max_steps": 3, "train.eval_every": 0})
    steps = _step_records(result.run_dir)
    assert [r["step"] for r in steps] == [1, 2, 3]  # 2 steps per epoch: stops in the middle of epoch 2
    assert steps[-1]["epoch"] == pytest.approx(1.5)
    assert [h["epoch"] for h in result.history] == [1.0, 1.5]  # evaluated after epoch 1 and at the stop
    assert (result.run_dir / "best_model" / "model.safetensors").exists()


def test_without_dev_file_the_last_model_is_saved(tiny_encoder_dir: Path, tmp_path: Path, fixture_path: Path) -> None:
    result = _train(tiny_encoder_dir, tmp_path / "run", fixture_path,
                    **{"train.epochs": 2, "data.dev_file": None, "data.test_file": str(fixture_path)})
    assert result.best_metrics == {} and result.history == []
    assert result.best_epoch == pytest.approx(2.0)
    assert (result.run_dir / "best_model" / "model.safetensors").exists()
    assert isinstance(json.loads((result.run_dir / "result.json").read_text()), list)


def test_nan_loss_raises_training_error_naming_the_step(tiny_encoder_dir: Path, tmp_path: Path, fixture_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from docre.models.heads.atlop import ATLOPHead

    original = ATLOPHead.forward
    calls = {"train": 0}

    def nan_on_third_step(self: ATLOPHead, encoded: Any, batch: Any, phase: str = "joint",
                          return_details: bool = False, **kwargs: Any) -> Any:
        out = original(self, encoded, batch, phase=phase, return_details=return_details, **kwargs)
        if phase != "eval":
            calls["train"] += 1
            if calls["train"] == 3:
                out.loss = out.loss * float("nan")
        return out

    monkeypatch.setattr(ATLOPHead, "forward", nan_on_third_step)
    with pytest.raises(TrainingError) as info:
        _train(tiny_encoder_dir, tmp_path / "run", fixture_path,
               **{"train.epochs": 5, "train.eval_every": 0, "logging.log_every": 1})
    msg = str(info.value)
    # the third optimisation step, numbered as metrics.jsonl numbers steps (1, 2 were logged)
    assert "step 3" in msg and "epoch 3" in msg and "nan" in msg.lower()
    assert calls["train"] == 3
    steps = _step_records(tmp_path / "run")
    assert [r["step"] for r in steps] == [1, 2]  # the bad step is not logged as a training step


def test_runs_with_another_precision_in_the_same_process(tiny_encoder_dir: Path, tmp_path: Path,
                                                         fixture_path: Path) -> None:
    # earlier tests of this process trained in fp32; accelerate's process-wide state must not refuse bf16
    first = _train(tiny_encoder_dir, tmp_path / "fp32", fixture_path, **{"train.epochs": 2})
    second = _train(tiny_encoder_dir, tmp_path / "bf16", fixture_path,
                    **{"train.epochs": 20, "train.mixed_precision": "bf16"})
    assert first.run_dir != second.run_dir
    losses = [r["loss"] for r in _step_records(second.run_dir)]
    assert len(losses) == 20 and all(x == x for x in losses)  # no NaN
    assert sum(losses[-3:]) / 3 < 0.5 * losses[0]
    assert (second.run_dir / "best_model" / "model.safetensors").exists()


def test_truncation_report_names_the_file_and_range(tiny_encoder_dir: Path, tmp_path: Path, fixture_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    import logging

    with caplog.at_level(logging.WARNING, logger="docre.data.features"):
        _train(tiny_encoder_dir, tmp_path / "run", fixture_path,
               **{"train.epochs": 1, "data.max_seq_length": 10, "data.train_range": ":2", "data.dev_range": "1:"})
    lines = [r.getMessage() for r in caplog.records if "lie past max_seq_length=10" in r.getMessage()]
    assert len(lines) == 2, lines  # once per split
    assert lines[0].startswith(f"{fixture_path}[:2]: ") and lines[1].startswith(f"{fixture_path}[1:]: ")
