"""Two processes (``accelerate launch``, gloo on CPU) equal one: training at the same global batch
(losses, lr, EM phases and tau, evaluations, weights, test predictions), resume after a kill,
and sharded prediction merged into the same bytes. Tiny BERT without dropout, one thread per
process; each launch takes some seconds, so the runs are shared by the tests of this module."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "docre" / "resources" / "sample"
LOSS_RTOL = 1e-5  # 1 vs 2 processes: float32 sums in another order, nothing more
WEIGHT_ATOL = 1e-5

KILLER = textwrap.dedent("""
    import os, signal, sys
    import docre.training.trainer as T
    n, calls = int(sys.argv[1]), {"n": 0}
    orig = T.save_checkpoint
    def save_then_die(*a, **k):  # only the main process saves: it dies, the launcher stops the other
        orig(*a, **k)
        calls["n"] += 1
        if calls["n"] == n:
            os.kill(os.getpid(), signal.SIGKILL)
    T.save_checkpoint = save_then_die
    from docre.cli import main
    sys.exit(main(sys.argv[2:]))
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(args: list[str], script: list[str] | None = None, nproc: int = 2) -> subprocess.CompletedProcess:
    """``accelerate launch --multi_gpu --num_processes N -m docre ARGS`` on CPU (gloo)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(nproc),
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "--main_process_port", str(_free_port()), *(script or ["-m", "docre"]), *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def train_args(encoder: Path, out: Path) -> list[str]:
    """KMGRE on 24 sample documents, batch 3 (shares of 2 and 1 documents), entity-level warm-up for
    half an epoch, then E- and M-steps alternating every 2 steps: both loss terms, every phase."""
    return ["train", "--model.encoder", str(encoder), "--model.emb_size", "32", "--model.block_size", "8",
            "--model.head", "kmgre", "--kmgre.warmup_epochs", "0.5", "--kmgre.em_period", "2",
            "--data.train_file", str(SAMPLE / "train.json"), "--data.train_range", ":24",
            "--data.dev_file", str(SAMPLE / "dev.json"), "--data.dev_range", ":7",
            "--data.test_file", str(SAMPLE / "test.json"), "--data.test_range", ":5", "--data.cache", "false",
            "--train.output_dir", str(out), "--train.epochs", "2", "--train.batch_size", "3",
            "--train.lr_encoder", "3e-3", "--train.lr_new", "3e-3", "--train.warmup_ratio", "0.1",
            "--train.device", "cpu", "--train.num_threads", "1", "--train.eval_every", "4",
            "--train.checkpoint_every", "3", "--train.keep_checkpoint", "true", "--logging.progress", "false",
            "--logging.log_every", "1"]


def _metrics(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


@pytest.fixture(scope="module")
def runs(tiny_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One process (in this process), two processes, and two processes killed after the second
    checkpoint then resumed: the same config."""
    from docre.cli import main

    tmp = tmp_path_factory.mktemp("dp")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(train_args(tiny_encoder_dir, tmp / "one")) == 0
    finally:
        torch.set_num_threads(before)
    two = launch(train_args(tiny_encoder_dir, tmp / "two"))
    assert two.returncode == 0, two.stderr[-3000:]
    killer = tmp / "killer.py"
    killer.write_text(KILLER)
    killed = launch(train_args(tiny_encoder_dir, tmp / "resumed"), script=[str(killer), "2"])
    resumed = launch(["train", "--resume", str(tmp / "resumed")])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    return {"one": tmp / "one", "two": tmp / "two", "resumed": tmp / "resumed", "two_log": two.stderr,
            "killed_rc": killed.returncode}


def test_two_processes_train_like_one(runs: dict[str, Any]) -> None:
    one, two = _metrics(runs["one"]), _metrics(runs["two"])
    assert "data parallel over 2 processes" in runs["two_log"]  # it really ran on two processes
    assert [sorted(r) for r in one] == [sorted(r) for r in two]  # one metrics.jsonl line per record: main only
    steps = [(a, b) for a, b in zip(one, two) if "loss" in a]
    assert len(steps) == 16
    assert {a["phase"] for a, _ in steps} == {"warmup", "e", "m"}
    for a, b in steps:
        assert (a["step"], a["phase"], a["lr"], a.get("tau")) == (b["step"], b["phase"], b["lr"], b.get("tau"))
        for key in ("loss", "loss_theta", "loss_omega"):
            if key in a:
                assert b[key] == pytest.approx(a[key], rel=LOSS_RTOL), (a["step"], key)
    evals = [(a, b) for a, b in zip(one, two) if "dev_f1" in a]
    assert len(evals) == 4
    for a, b in evals:
        assert {k: v for k, v in a.items() if k.startswith("dev_")} == {k: v for k, v in b.items() if k.startswith("dev_")}
    assert _max_diff(_weights(runs["one"] / "best_model" / "model.safetensors"),
                     _weights(runs["two"] / "best_model" / "model.safetensors")) < WEIGHT_ATOL
    assert _max_diff(_weights(runs["one"] / "checkpoint" / "model.safetensors"),
                     _weights(runs["two"] / "checkpoint" / "model.safetensors")) < WEIGHT_ATOL
    for name in ("result.json", "dev_predictions.json"):
        assert json.loads((runs["one"] / name).read_text()) == json.loads((runs["two"] / name).read_text())
    assert sorted(p.name for p in runs["two"].iterdir()) == sorted(p.name for p in runs["one"].iterdir())


def test_resume_after_a_kill_ends_like_the_uninterrupted_run(runs: dict[str, Any]) -> None:
    assert runs["killed_rc"] != 0
    state = json.loads((runs["resumed"] / "checkpoint" / "state.json").read_text())
    assert state["step"] == 15 and len(state["rng_ranks"]) == 2  # every process's RNG state is kept
    assert _max_diff(_weights(runs["two"] / "best_model" / "model.safetensors"),
                     _weights(runs["resumed"] / "best_model" / "model.safetensors")) == 0.0
    drop = ("time", "epoch_seconds")
    strip = lambda recs: [{k: v for k, v in r.items() if k not in drop} for r in recs]  # noqa: E731
    assert strip(_metrics(runs["resumed"])) == strip(_metrics(runs["two"]))
    assert (runs["resumed"] / "result.json").read_bytes() == (runs["two"] / "result.json").read_bytes()


@pytest.fixture(scope="module")
def model_dir(runs: dict[str, Any]) -> Path:
    return runs["one"] / "best_model"


def test_two_processes_predict_and_submit_the_same_bytes(model_dir: Path, tmp_path: Path, one_thread) -> None:
    from docre.cli import main

    data = SAMPLE / "dev.json"
    common = ["--model", str(model_dir), "--data", str(data), "--device", "cpu", "--quiet", "--chunk-size", "3",
              "--batch-size", "2"]
    assert main(["predict", *common, "--out", str(tmp_path / "one.json")]) == 0
    assert main(["submit", *common, "--out", str(tmp_path / "one" / "result.json"), "--zip"]) == 0
    out = tmp_path / "two.json"
    p = launch(["predict", *common, "--out", str(out)])
    assert p.returncode == 0, p.stderr[-3000:]
    assert p.stdout.count("20 documents") == 1  # the main process reports
    assert out.read_bytes() == (tmp_path / "one.json").read_bytes()
    assert len(json.loads(out.read_text())) == 20
    s = launch(["submit", *common, "--out", str(tmp_path / "two" / "result.json"), "--zip"])
    assert s.returncode == 0, s.stderr[-3000:]
    assert (tmp_path / "two" / "result.json").read_bytes() == (tmp_path / "one" / "result.json").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "one.json", "two", "two.json"]  # no shards left
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["result.json", "result.zip"]


def test_two_processes_reject_bad_input_once_and_write_nothing(model_dir: Path, tmp_path: Path) -> None:
    raw = json.loads((SAMPLE / "dev.json").read_text())
    raw[11]["labels"] = [{"h": 0, "t": 0, "r": "P17"}]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(raw))
    out = tmp_path / "out" / "preds.json"
    p = launch(["predict", "--model", str(model_dir), "--data", str(path), "--out", str(out), "--device", "cpu",
                "--quiet", "--chunk-size", "3"])
    assert p.returncode != 0
    errors = [line for line in p.stderr.splitlines() if line.startswith("docre: error:")]
    assert errors == [f"docre: error: {path}, document 11, title {raw[11]['title']!r}, field labels[0].t: "
                      "head and tail are the same entity (0)"]
    assert not out.parent.exists() or list(out.parent.iterdir()) == []
