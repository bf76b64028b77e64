"""environment.json in run and model directories, and `docre env` listing what changed."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch

from docre.cli import main
from docre.provenance import collect_environment, compare_environments, current_for, format_differences

FIXTURE = Path(__file__).parent / "fixtures" / "docs.json"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def run_dir(tiny_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from conftest import tiny_config

    from docre.training import train

    data = tmp_path_factory.mktemp("data") / "docs.json"
    shutil.copyfile(FIXTURE, data)
    out = tmp_path_factory.mktemp("env") / "run"
    train(tiny_config(tiny_encoder_dir, out, data, **{"train.epochs": 1, "train.num_threads": 1}))
    return out


def test_training_records_its_environment(run_dir: Path, tiny_encoder_dir: Path) -> None:
    env = json.loads((run_dir / "environment.json").read_text())
    assert env["packages"]["torch"] == torch.__version__
    assert env["hardware"]["device"] == "cpu" and env["hardware"]["gpu"] is None
    assert env["hardware"]["torch_threads"] == 1
    train_file = Path(env["data"]["train"]["path"])
    assert env["data"]["train"]["sha256"] == _sha(train_file) and env["data"]["train"]["bytes"] == train_file.stat().st_size
    assert env["data"]["test"] is None
    assert env["encoder"]["weights_sha256"] == _sha(tiny_encoder_dir / "model.safetensors")
    # the model directory carries the same record
    assert json.loads((run_dir / "best_model" / "environment.json").read_text()) == env


def test_same_environment_has_no_differences(run_dir: Path) -> None:
    recorded = json.loads((run_dir / "environment.json").read_text())
    assert compare_environments(recorded, current_for(recorded)) == []


def test_docre_env_lists_what_changed(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    model = tmp_path / "model"
    shutil.copytree(run_dir / "best_model", model)
    env = json.loads((model / "environment.json").read_text())
    env["packages"]["transformers"] = "4.40.0"
    env["hardware"]["device"] = "cuda:0"
    env["hardware"]["gpu"] = "NVIDIA A100"
    (model / "environment.json").write_text(json.dumps(env))
    # the training data changed since
    train_file = Path(env["data"]["train"]["path"])
    train_file.write_text(train_file.read_text() + "\n")
    try:
        assert main(["env", str(model)]) == 0
    finally:
        train_file.write_text(train_file.read_text()[:-1])
    out = capsys.readouterr().out
    assert "difference(s), recorded -> now:" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert "4.40.0 ->" in lines["packages.transformers"]
    assert "NVIDIA A100 -> (absent)" in lines["hardware.gpu"]
    assert "data.train.sha256" in lines and "data.train.bytes" in lines
    if not torch.cuda.is_available():
        assert "cuda:0 -> cpu" in lines["hardware.device"]
    assert "packages.torch" not in lines and "encoder.weights_sha256" not in lines
    assert "command" not in out and "recorded_at" not in lines


def test_docre_env_without_a_record_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["env", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("docre: error: ") and "no environment.json" in err[0]


def test_docre_env_prints_this_environment(capsys: pytest.CaptureFixture) -> None:
    assert main(["env"]) == 0
    env = json.loads(capsys.readouterr().out)
    assert env["python"].count(".") == 2 and set(env["packages"]) >= {"torch", "transformers", "accelerate"}
    assert env["docre"]["version"]


def test_time_command_and_threads_are_not_differences() -> None:
    a = collect_environment()
    b = json.loads(json.dumps(a))
    b["packages"]["numpy"] = "0.0"
    b["recorded_at"] = "later"  # not compared
    b["hardware"]["torch_threads"] = 99  # not compared
    diffs = compare_environments(a, b)
    assert diffs == [("packages.numpy", a["packages"]["numpy"], "0.0")]
    assert "packages.numpy" in format_differences(diffs)
    assert format_differences([]).startswith("no differences")


def test_resuming_in_another_environment_warns(tiny_encoder_dir: Path, tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from conftest import tiny_config

    from docre.training import train

    cfg = tiny_config(tiny_encoder_dir, tmp_path / "run", FIXTURE,
                      **{"train.epochs": 2, "train.num_threads": 1, "train.keep_checkpoint": True})
    train(cfg)
    path = tmp_path / "run" / "environment.json"
    env = json.loads(path.read_text())
    env["packages"]["accelerate"] = "0.30.0"
    path.write_text(json.dumps(env))
    with caplog.at_level(logging.WARNING, logger="docre"):
        train(cfg, resume=True)
    warning = [r.getMessage() for r in caplog.records if "another environment" in r.getMessage()]
    assert len(warning) == 1 and "packages.accelerate" in warning[0] and "0.30.0 ->" in warning[0]
    assert json.loads(path.read_text())["packages"]["accelerate"] == "0.30.0"  # the original record is kept


def test_records_the_git_commit_of_a_checkout() -> None:
    import subprocess

    root = Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():
        pytest.skip("docre is not running from a git checkout")
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    docre = collect_environment()["docre"]
    assert docre["git_commit"] == head and isinstance(docre["git_dirty"], bool)
