"""wandb is optional: never imported when disabled, and offline mode needs no account."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES, tiny_config


def test_disabled_wandb_is_never_imported(tiny_encoder_dir: Path, tmp_path: Path) -> None:
    code = f"""
import sys
sys.path.insert(0, {str(Path(__file__).parent.parent)!r})
from conftest import tiny_config
from pathlib import Path
from docre.training import train
train(tiny_config(Path({str(tiny_encoder_dir)!r}), Path({str(tmp_path / 'run')!r}), Path({str(FIXTURES / 'docs.json')!r}),
                  **{{"train.epochs": 1, "train.num_threads": 1}}))
print("wandb" in sys.modules)
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip().splitlines()[-1] == "False"
    assert not (tmp_path / "run" / "wandb").exists()
    assert (tmp_path / "run" / "metrics.jsonl").exists()


def test_offline_wandb_writes_a_run_beside_metrics(tiny_encoder_dir: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("wandb")
    from docre.training import train

    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    run = tmp_path / "run"
    train(tiny_config(tiny_encoder_dir, run, FIXTURES / "docs.json",
                      **{"train.epochs": 2, "train.num_threads": 1, "logging.wandb": "offline"}))
    offline = list((run / "wandb").glob("offline-run-*"))
    assert len(offline) == 1
    assert list(offline[0].glob("*.wandb"))  # the run's log, to `wandb sync` later
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("dev_f1" in r for r in lines) and any("loss_theta" in r for r in lines)
