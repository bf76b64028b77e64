"""Resume after SIGKILL: the resumed run ends exactly where an uninterrupted run with the
same seed ends (same weights, same metrics), and a kill never leaves a truncated file."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from conftest import FIXTURES, build_tiny_bert

KILLER = textwrap.dedent("""
    import os, signal, sys
    import docre.training.trainer as T
    mode, n = sys.argv[1], int(sys.argv[2])
    calls = {"n": 0}
    if mode == "after_checkpoint":
        orig = T.save_checkpoint
        def save_then_die(*a, **k):
            orig(*a, **k)
            calls["n"] += 1
            if calls["n"] == n:
                os.kill(os.getpid(), signal.SIGKILL)
        T.save_checkpoint = save_then_die
    else:  # mid_step: die inside the n-th forward pass, between checkpoints
        from docre.models.model import DocREModel
        orig_forward = DocREModel.forward
        def forward_then_die(self, *a, **k):
            if self.training:
                calls["n"] += 1
                if calls["n"] == n:
                    os.kill(os.getpid(), signal.SIGKILL)
            return orig_forward(self, *a, **k)
        DocREModel.forward = forward_then_die
    from docre.cli import main
    sys.exit(main(sys.argv[3:]))
""")


@pytest.fixture(scope="module")
def dropout_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT with dropout, so that restoring the RNG state matters."""
    return build_tiny_bert(tmp_path_factory.mktemp("tiny_bert_dropout"), dropout=0.2, seed=1)


def _args(encoder: Path, out: Path, head: str) -> list[str]:
    docs = str(FIXTURES / "docs.json")
    return ["train", "--model.encoder", str(encoder), "--model.emb_size", "32", "--model.block_size", "8",
            "--model.head", head, "--kmgre.warmup_epochs", "2", "--kmgre.em_period", "0",
            "--data.train_file", docs, "--data.dev_file", docs, "--data.test_file", docs, "--data.cache", "false",
            "--train.output_dir", str(out), "--train.epochs", "15", "--train.batch_size", "1",
            "--train.lr_encoder", "3e-3", "--train.lr_new", "3e-3", "--train.device", "cpu", "--train.num_threads", "1",
            "--train.checkpoint_every", "2", "--logging.progress", "false", "--logging.log_every", "1"]


def _run(argv: list[str], killer: tuple[str, int] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    if killer is None:
        cmd = [sys.executable, "-m", "docre", *argv]
    else:
        cmd = [sys.executable, "-c", KILLER, killer[0], str(killer[1]), *argv]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


def _weights(run: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(run / "best_model" / "model.safetensors"))


def _evals(run: Path) -> list[dict]:
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "time"} for r in lines if "dev_f1" in r or "loss" in r]


@pytest.fixture(scope="module")
def reference_runs(dropout_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = {}
    for head in ("atlop", "kmgre"):
        run = tmp_path_factory.mktemp(f"ref_{head}") / "run"
        res = _run(_args(dropout_encoder_dir, run, head))
        assert res.returncode == 0, res.stderr[-2000:]
        out[head] = run
    return out


@pytest.mark.parametrize("head,mode,n", [("atlop", "after_checkpoint", 3), ("atlop", "mid_step", 9),
                                         ("kmgre", "mid_step", 13)])
def test_resume_after_sigkill_matches_an_uninterrupted_run(head: str, mode: str, n: int, dropout_encoder_dir: Path,
                                                           reference_runs: dict[str, Path], tmp_path: Path) -> None:
    run = tmp_path / "run"
    killed = _run(_args(dropout_encoder_dir, run, head), killer=(mode, n))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert (run / "checkpoint" / "state.json").exists()
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    assert 0 < state["step"] < 45  # killed mid-run (3 documents x 15 epochs = 45 steps)
    # nothing half-written: every JSON file in the run directory parses
    for f in run.rglob("*.json"):
        json.loads(f.read_text())
    resumed = _run(["train", "--resume", str(run)])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    ref = reference_runs[head]
    def summary(r: Path) -> str:
        rows = _evals(r)
        losses = [x["loss"] for x in rows if "loss" in x]
        return (f"{len(losses)} logged losses, first {losses[0]:.6f}, sum {sum(losses):.6f}, "
                f"best dev F1 {max(x['dev_f1'] for x in rows if 'dev_f1' in x):.2f}")

    print(f"\n{head} killed ({mode} {n}) at step {state['step']}; resumed: {summary(run)}; "
          f"uninterrupted: {summary(ref)}")
    assert _evals(run) == _evals(ref)  # same losses at every step, same dev metrics at every epoch
    a, b = _weights(run), _weights(ref)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert json.loads((run / "result.json").read_text()) == json.loads((ref / "result.json").read_text())
    assert not (run / "checkpoint").exists()  # removed once training finished


def test_resume_without_a_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    from docre.cli import main

    (tmp_path / "config.json").write_text("{}")
    assert main(["train", "--resume", str(tmp_path)]) == 2
