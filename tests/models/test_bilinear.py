"""The group bilinear and the head/tail extractors against their plain computations: values
and gradients, whatever the chunking, and with pairs that get no gradient (spec 2, 3.1)."""
from __future__ import annotations

import pytest
import torch

from docre.models import bilinear
from docre.models.bilinear import GroupBilinear, PairExtractor, feature_chunk_rows

pytestmark = pytest.mark.usefixtures("one_thread")


def _plain_group_bilinear(zh: torch.Tensor, zt: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                          k: int, b: int) -> torch.Tensor:
    """``sum_i z_h^i^T W_c^i z_t^i + b_c``, written as one einsum (no features, no chunks)."""
    n, c = zh.size(0), weight.size(0)
    return torch.einsum("nip,cipq,niq->nc", zh.view(n, k, b), weight.view(c, k, b, b), zt.view(n, k, b)) + bias


def _inputs(n: int, emb: int, seed: int, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return (torch.tanh(torch.randn(n, emb, generator=gen)).to(dtype),
            torch.tanh(torch.randn(n, emb, generator=gen)).to(dtype))


def _values_and_grads(fn, zh, zt, layer: GroupBilinear, grad_out: torch.Tensor) -> list[torch.Tensor]:
    zh = zh.clone().requires_grad_(True)
    zt = zt.clone().requires_grad_(True)
    layer.zero_grad(set_to_none=True)
    out = fn(zh, zt)
    out.backward(grad_out)
    return [out.detach(), zh.grad, zt.grad, layer.linear.weight.grad, layer.linear.bias.grad]


@pytest.mark.parametrize("budget_rows", [1, 3, 1000])
def test_group_bilinear_equals_the_plain_computation_for_any_chunking(monkeypatch: pytest.MonkeyPatch,
                                                                      budget_rows: int) -> None:
    emb, block, classes, n = 32, 8, 5, 11
    k = emb // block
    # budget_rows pairs of one block's features per chunk on the CPU (float64: 8 bytes an element)
    monkeypatch.setattr(bilinear, "CPU_FEATURE_CHUNK_BYTES", budget_rows * block * block * 8)
    torch.manual_seed(0)
    layer = GroupBilinear(emb, block, classes, chunk_size=4).double()
    assert feature_chunk_rows(torch.device("cpu"), block, 8, 4) == min(budget_rows, 4)
    zh, zt = _inputs(n, emb, 1)
    grad_out = torch.randn(n, classes, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    got = _values_and_grads(layer, zh, zt, layer, grad_out)
    want = _values_and_grads(lambda a, c: _plain_group_bilinear(a, c, layer.linear.weight, layer.linear.bias, k, block),
                             zh, zt, layer, grad_out)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(layer.reference_forward(zh, zt), want[0], rtol=1e-10, atol=1e-12)


def test_pairs_without_gradient_are_skipped_and_get_exactly_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    # KMGRE's mention pairs outside the key set K get no gradient from the fused logits.
    emb, block, classes, n = 32, 8, 5, 13
    monkeypatch.setattr(bilinear, "CPU_FEATURE_CHUNK_BYTES", 2 * block * block * 8)
    torch.manual_seed(0)
    layer = GroupBilinear(emb, block, classes).double()
    zh, zt = _inputs(n, emb, 3)
    grad_out = torch.randn(n, classes, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    dead = torch.tensor([0, 1, 5, 6, 7, 12])
    grad_out[dead] = 0.0
    got = _values_and_grads(layer, zh, zt, layer, grad_out)
    want = _values_and_grads(
        lambda a, c: _plain_group_bilinear(a, c, layer.linear.weight, layer.linear.bias, emb // block, block),
        zh, zt, layer, grad_out)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-12)
    assert got[1][dead].abs().max() == 0 and got[2][dead].abs().max() == 0
    # no pair with a gradient at all: zero gradients of the right shapes
    got = _values_and_grads(layer, zh, zt, layer, torch.zeros_like(grad_out))
    assert all(g.abs().max() == 0 for g in got[1:]) and got[3].shape == layer.linear.weight.shape


def test_group_bilinear_at_docre_scale_in_float32(monkeypatch: pytest.MonkeyPatch) -> None:
    # emb 768, block 64, 97 classes, chunks of 64 pairs
    monkeypatch.setattr(bilinear, "CPU_FEATURE_CHUNK_BYTES", 2**20)
    emb, block, classes, n = 768, 64, 97, 300
    k = emb // block
    assert feature_chunk_rows(torch.device("cpu"), block, 4, 1024) == 64
    torch.manual_seed(0)
    layer = GroupBilinear(emb, block, classes)
    zh, zt = _inputs(n, emb, 5, torch.float32)
    grad_out = torch.randn(n, classes, generator=torch.Generator().manual_seed(6))
    grad_out[::3] = 0.0
    got = _values_and_grads(layer, zh, zt, layer, grad_out)
    ref_layer = GroupBilinear(emb, block, classes).double()
    ref_layer.load_state_dict(layer.state_dict())
    want = _values_and_grads(
        lambda a, c: _plain_group_bilinear(a, c, ref_layer.linear.weight, ref_layer.linear.bias, k, block),
        zh.double(), zt.double(), ref_layer, grad_out.double())
    for g, w in zip(got, want):
        # float32 sums over 49,152 features in another order than the float64 reference
        torch.testing.assert_close(g.double(), w, rtol=1e-4, atol=1e-5 * float(w.abs().max()))


def test_feature_chunks_are_bounded_on_the_cpu_only() -> None:
    b = 64  # block 64: 16,384 bytes of float32 features per pair and block
    rows = feature_chunk_rows(torch.device("cpu"), b, 4, 1024)
    assert rows == bilinear.CPU_FEATURE_CHUNK_BYTES // (b * b * 4) and 1 <= rows < 1024
    assert feature_chunk_rows(torch.device("cpu"), b, 4, 16) == 16  # chunk_size stays an upper bound
    assert feature_chunk_rows(torch.device("cuda"), b, 4, 1024) == 1024  # accelerators: model.pair_chunk_size


def test_pair_extractor_by_index_equals_gathered_pairs() -> None:
    torch.manual_seed(0)
    hidden, emb = 6, 10
    extractor = PairExtractor(hidden, emb).double()
    gen = torch.Generator().manual_seed(7)
    ent = torch.randn(4, hidden, generator=gen, dtype=torch.float64)
    ctx = torch.randn(9, hidden, generator=gen, dtype=torch.float64)
    head = torch.tensor([0, 0, 1, 1, 2, 3, 3, 2, 0])
    tail = torch.tensor([1, 2, 0, 3, 3, 0, 1, 1, 3])
    w_h, w_t = torch.randn(9, emb, generator=gen, dtype=torch.float64), torch.randn(9, emb, generator=gen,
                                                                                 dtype=torch.float64)
    results = []
    for by_index in (True, False):
        e, c = ent.clone().requires_grad_(True), ctx.clone().requires_grad_(True)
        extractor.zero_grad(set_to_none=True)
        zh, zt = extractor.for_pairs(e, head, tail, c) if by_index else extractor(e[head], e[tail], c)
        ((zh * w_h).sum() + (zt * w_t).sum()).backward()
        results.append([zh.detach(), zt.detach(), e.grad, c.grad] + [p.grad for p in extractor.parameters()])
    for got, want in zip(*results):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
