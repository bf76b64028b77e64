"""Inference precision (``--precision``): bf16 autocast really runs in bfloat16, stays close to
float32, leaves training alone, and impossible requests fail before a model loads."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from docre.cli import main
from docre.data.reader import read_documents
from docre.data.relations import RelationInventory
from docre.errors import ConfigError
from docre.inference import predict
from docre.pipeline import Pipeline

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "docre" / "resources" / "sample" / "dev.json"
RELATIONS = ROOT / "docre" / "resources" / "sample" / "relations.json"

pytestmark = pytest.mark.usefixtures("one_thread")


def _model_dir(tiny_encoder_dir: Path, out: Path, head: str) -> Path:
    from conftest import tiny_config
    from docre.models.model import DocREModel, load_tokenizer

    config = tiny_config(tiny_encoder_dir, out / "run", SAMPLE, **{"model.head": head})
    tokenizer = load_tokenizer(str(tiny_encoder_dir))
    torch.manual_seed(5)
    model = DocREModel.build(config, RelationInventory.from_file(RELATIONS), tokenizer)
    model.save(out / "model", tokenizer)
    return out / "model"


@pytest.fixture(scope="module", params=["atlop", "kmgre"])
def model_dir(request, tiny_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _model_dir(tiny_encoder_dir, tmp_path_factory.mktemp(f"precision_{request.param}"), request.param)


def _logits_and_dtypes(pipe: Pipeline) -> tuple[list[torch.Tensor], set[torch.dtype]]:
    """Per-document logits of the first 8 sample documents, and the dtypes the encoder's linear layers produced."""
    from docre.data.features import featurize_documents

    docs = read_documents(SAMPLE)[:8]
    feats = featurize_documents(docs, pipe.tokenizer, pipe.relations, pipe.max_seq_length)
    seen: set[torch.dtype] = set()
    hooks = [m.register_forward_hook(lambda mod, inp, out: seen.add(out.dtype))
             for m in pipe.model.encoder.modules() if isinstance(m, torch.nn.Linear)]
    try:
        _, logits = predict(pipe.model, feats, batch_size=3, return_logits=True)
    finally:
        for h in hooks:
            h.remove()
    return logits, seen


def test_bf16_runs_in_bfloat16_and_stays_close_to_fp32(model_dir: Path) -> None:
    ref, ref_dtypes = _logits_and_dtypes(Pipeline.from_dir(model_dir, device="cpu"))
    low, low_dtypes = _logits_and_dtypes(Pipeline.from_dir(model_dir, device="cpu", precision="bf16"))
    assert ref_dtypes == {torch.float32}
    assert low_dtypes == {torch.bfloat16}
    assert all(lg.dtype == torch.float32 for lg in low)  # read back as float32 for the prediction rule
    a, b = torch.cat(ref), torch.cat(low)
    assert a.shape == b.shape and a.numel() > 100
    diff = (a - b).abs()
    assert float(diff.max()) > 0  # bfloat16 rounding shows: the autocast was active
    # bfloat16 keeps 8 bits of mantissa: a few per cent of the logits' scale
    assert float(diff.max()) <= 0.05 * float(a.abs().max()) + 0.05
    # the prediction rule agrees on almost every (pair, class) decision
    same = ((a[:, 1:] > a[:, :1]) == (b[:, 1:] > b[:, :1])).float().mean()
    assert float(same) >= 0.98


def test_training_mode_ignores_the_inference_precision(model_dir: Path) -> None:
    pipe = Pipeline.from_dir(model_dir, device="cpu", precision="bf16")
    model = pipe.model
    try:
        model.train()
        assert model.precision_scope().__class__.__name__ == "nullcontext"
        model.eval()
        assert isinstance(model.precision_scope(), torch.autocast)
    finally:
        model.eval()


def test_fp16_on_the_cpu_and_unknown_precisions_are_refused(model_dir: Path, monkeypatch) -> None:
    from docre.models import model as model_module

    def no_load(*a, **k):  # the check comes before the model loads
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(model_module.DocREModel, "load", classmethod(no_load))
    with pytest.raises(ConfigError, match="fp16 needs a GPU.*use bf16"):
        Pipeline.from_dir(model_dir, device="cpu", precision="fp16")
    with pytest.raises(ConfigError, match="precision must be one of fp32, bf16, fp16"):
        Pipeline.from_dir(model_dir, device="cpu", precision="fp8")


def test_cli_predict_with_bf16(model_dir: Path, tmp_path: Path) -> None:
    outs = {}
    for precision in ("fp32", "bf16"):
        out = tmp_path / f"{precision}.json"
        assert main(["predict", "--model", str(model_dir), "--data", str(SAMPLE), "--out", str(out), "--quiet",
                     "--device", "cpu", "--precision", precision]) == 0
        outs[precision] = {(d["title"], r["h"], r["t"], r["r"]) for d in json.loads(out.read_text())
                           for r in d.get("relations", [])}
    assert len(outs["fp32"]) > 20
    overlap = len(outs["fp32"] & outs["bf16"]) / len(outs["fp32"] | outs["bf16"])
    assert overlap >= 0.9, overlap


def test_cli_refuses_fp16_on_cpu_with_one_line(model_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "p.json"
    rc = main(["predict", "--model", str(model_dir), "--data", str(SAMPLE), "--out", str(out), "--quiet",
               "--device", "cpu", "--precision", "fp16"])
    assert rc != 0
    assert "fp16 needs a GPU" in capsys.readouterr().err
    assert not out.exists()


def test_bilinear_low_precision_weight_copy_follows_weight_updates() -> None:
    from docre.models.bilinear import GroupBilinear

    torch.manual_seed(0)
    g = GroupBilinear(16, 4, 5)
    zh, zt = torch.randn(7, 16).bfloat16(), torch.randn(7, 16).bfloat16()

    def expected() -> torch.Tensor:
        w, b = g.linear.weight.detach().bfloat16().float(), g.linear.bias.detach().bfloat16().float()
        feats = (zh.float().view(-1, 4, 4, 1) * zt.float().view(-1, 4, 1, 4)).reshape(7, 64)
        return feats @ w.t() + b

    with torch.no_grad():
        first = g(zh, zt).float()
        assert torch.allclose(first, expected(), rtol=2e-2, atol=5e-2)
        g.linear.weight.mul_(-2.0)  # an in-place update (as an optimizer step) must not be served stale
        second = g(zh, zt).float()
    assert torch.allclose(second, expected(), rtol=2e-2, atol=5e-2)
    assert not torch.allclose(first, second, atol=1e-1)
