"""DocumentEncoder against hand recomputations with the tiny BERT (hidden 32, 2 layers, 4 heads, 512 positions).

Token ids are drawn at random from the tiny vocabulary so that every position carries a
different input; the expected values are recomputed from the plain Hugging Face model, one
window at a time, with eager attention.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Sequence

import pytest
import torch

from docre.data.features import featurize_documents, report_truncation
from docre.data.reader import read_documents
from docre.data.relations import RelationInventory
from docre.errors import ConfigError, ModelDirError
from docre.models.encoder import DocumentEncoder, load_pretrained_encoder, window_starts
from docre.models.model import load_tokenizer

CLS, SEP, PAD = 2, 3, 0
ATOL = 1e-5


@pytest.fixture(scope="module")
def sdpa_model(tiny_encoder_dir: Path) -> torch.nn.Module:
    return load_pretrained_encoder(str(tiny_encoder_dir), "auto").eval()


@pytest.fixture(scope="module")
def eager_model(tiny_encoder_dir: Path) -> torch.nn.Module:
    """The same weights with eager attention (it can return attention probabilities)."""
    return load_pretrained_encoder(str(tiny_encoder_dir), "eager").eval()


def random_doc(n_content: int, seed: int, vocab_size: int) -> torch.Tensor:
    """``[n_content + 2]`` ids: CLS, random non-special tokens, SEP."""
    g = torch.Generator().manual_seed(seed)
    content = torch.randint(5, vocab_size, (n_content,), generator=g)
    return torch.cat([torch.tensor([CLS]), content, torch.tensor([SEP])])


def encoder(model: torch.nn.Module, window: int = 512, stride: int = 0, attention: str = "auto") -> DocumentEncoder:
    return DocumentEncoder(model, CLS, SEP, PAD, window=window, stride=stride, attention=attention).eval()


def by_hand(eager: torch.nn.Module, ids: torch.Tensor, query: Sequence[int], window: int, stride: int
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Hidden ``[L, d]`` and attention rows ``[Q, heads, L]`` recomputed window by window.

    A content token's hidden state is the mean over the windows that contain it; CLS comes
    from the first window, SEP from the last. A query's attention row is the sum over the
    windows containing it of that window's row, mapped to document positions (a window's
    own CLS/SEP columns only where they are the document's), then renormalised.
    """
    L = ids.numel()
    content = ids[1:-1]
    starts = window_starts(content.numel(), window - 2, stride)
    hidden_sum = torch.zeros(L, eager.config.hidden_size)
    count = torch.zeros(L)
    att = torch.zeros(len(query), eager.config.num_attention_heads, L)
    for k, s in enumerate(starts):
        piece = content[s: s + window - 2]
        n = piece.numel()
        win = torch.cat([ids[:1], piece, ids[-1:]])
        with torch.no_grad():
            out = eager(input_ids=win[None], output_attentions=True, return_dict=True)
        h, a = out.last_hidden_state[0], out.attentions[-1][0]  # [n+2, d], [heads, n+2, n+2]
        # window position j -> document position, or None where the window's CLS/SEP is not the document's
        doc_of = {j: s + j for j in range(1, n + 1)}
        if k == 0:
            doc_of[0] = 0
        if k == len(starts) - 1:
            doc_of[n + 1] = L - 1
        for j, p in doc_of.items():
            hidden_sum[p] += h[j]
            count[p] += 1
        win_of = {p: j for j, p in doc_of.items()}
        for qi, q in enumerate(query):
            if q in win_of:
                for j, p in doc_of.items():
                    att[qi, :, p] += a[:, win_of[q], j]
    assert bool((count > 0).all()), "the windows leave a position uncovered"
    return hidden_sum / count[:, None], att / att.sum(-1, keepdim=True)


# ------------------------------------------------------------------ (a) attention recompute
def test_recomputed_attention_rows_equal_eager_attention(sdpa_model, eager_model) -> None:
    ids = random_doc(60, seed=1, vocab_size=sdpa_model.config.vocab_size)
    query = torch.tensor([0, 1, 5, 17, 33, 60, 61])
    auto = encoder(sdpa_model)
    assert auto._last_attn is not None  # the sdpa path with the recompute hook, not the eager fallback
    with torch.no_grad():
        got = auto([ids], [query])[0].query_att  # [Q, heads, L]
        ref = eager_model(input_ids=ids[None], output_attentions=True).attentions[-1][0]  # [heads, L, L]
    assert got.shape == (7, 4, 62)
    torch.testing.assert_close(got, ref[:, query, :].transpose(0, 1), atol=ATOL, rtol=0)


def test_recomputed_attention_equals_eager_in_windows_and_padded_batches(sdpa_model, eager_model) -> None:
    vocab = sdpa_model.config.vocab_size
    docs = [random_doc(300, seed=2, vocab_size=vocab), random_doc(40, seed=3, vocab_size=vocab)]
    queries = [torch.tensor([1, 50, 61, 62, 63, 150, 299, 300]), torch.tensor([1, 20, 40])]
    with torch.no_grad():
        auto = encoder(sdpa_model, window=64)(docs, queries)
        eager = encoder(eager_model, window=64, attention="eager")(docs, queries)
    for a, e in zip(auto, eager):
        torch.testing.assert_close(a.query_att, e.query_att, atol=ATOL, rtol=0)
        torch.testing.assert_close(a.hidden, e.hidden, atol=ATOL, rtol=0)


# ------------------------------------------------------------------ (b) one window
def test_a_document_shorter_than_the_window_is_encoded_plainly(sdpa_model) -> None:
    ids = random_doc(200, seed=4, vocab_size=sdpa_model.config.vocab_size)
    assert window_starts(200, 510) == [0]
    with torch.no_grad():
        got = encoder(sdpa_model)([ids], [torch.tensor([3])])[0]
        ref = sdpa_model(input_ids=ids[None]).last_hidden_state[0]
    torch.testing.assert_close(got.hidden, ref, atol=ATOL, rtol=0)


# ------------------------------------------------------------------ (c) sliding windows
@pytest.mark.parametrize("stride", [0, 20])
def test_every_position_averages_the_windows_that_contain_it(sdpa_model, eager_model, stride: int) -> None:
    vocab = sdpa_model.config.vocab_size
    long_doc = random_doc(300, seed=5, vocab_size=vocab)  # 5 windows of 64 (ATLOP layout), 13 with stride 20
    short_doc = random_doc(30, seed=6, vocab_size=vocab)  # padded beside it in the same batch
    # "mentions" everywhere, up to the last content token
    query = list(range(1, 301, 7)) + [299, 300]
    with torch.no_grad():
        long_enc, short_enc = encoder(sdpa_model, window=64, stride=stride)(
            [long_doc, short_doc], [torch.tensor(query), torch.tensor([1, 2])])
        short_ref = sdpa_model(input_ids=short_doc[None]).last_hidden_state[0]
    hidden, att = by_hand(eager_model, long_doc, query, window=64, stride=stride)
    torch.testing.assert_close(long_enc.hidden, hidden, atol=ATOL, rtol=0)
    torch.testing.assert_close(long_enc.query_att, att, atol=ATOL, rtol=0)
    torch.testing.assert_close(long_enc.query_att.sum(-1), torch.ones(len(query), 4), atol=ATOL, rtol=0)
    assert bool((long_enc.hidden[query].norm(dim=-1) > 0).all())
    torch.testing.assert_close(short_enc.hidden, short_ref, atol=ATOL, rtol=0)


# ------------------------------------------------------------------ (d) window layout
def test_window_starts_atlop_layout() -> None:
    assert window_starts(100, 510) == [0]
    assert window_starts(510, 510) == [0]
    assert window_starts(511, 510) == [0, 1]
    assert window_starts(700, 510) == [0, 190]  # ATLOP: first window at the start, second at the end
    assert window_starts(1020, 510) == [0, 510]
    assert window_starts(1500, 510) == [0, 495, 990]  # evenly spaced beyond two windows
    assert window_starts(300, 62) == [0, 60, 119, 178, 238]


def test_window_starts_with_stride() -> None:
    assert window_starts(1000, 510, stride=256) == [0, 256, 490]
    assert window_starts(1000, 510, stride=490) == [0, 490]
    assert window_starts(1000, 510, stride=510) == [0, 490]
    assert window_starts(300, 62, stride=20) == [0, 20, 40, 60, 80, 100, 120, 140, 160, 180, 200, 220, 238]
    assert window_starts(400, 510, stride=128) == [0]


def _uncovered(content: int, wc: int, stride: int) -> list[int]:
    covered = set()
    for s in window_starts(content, wc, stride):
        covered.update(range(s, min(s + wc, content)))
    return sorted(set(range(content)) - covered)


@pytest.mark.parametrize("stride", [0, 1, 7, 62, 255, 510])
def test_windows_cover_every_position(stride: int) -> None:
    for wc in (62, 510):
        if stride > wc:
            continue
        for content in list(range(1, 200)) + [509, 510, 511, 700, 1019, 1020, 1021, 1500, 2048, 4097]:
            starts = window_starts(content, wc, stride)
            assert starts[0] == 0 and starts == sorted(set(starts))
            assert starts[-1] + min(wc, content) == content  # the last window ends at the document's end
            assert not _uncovered(content, wc, stride), (content, wc, stride)


def test_a_stride_beyond_the_window_is_rejected_or_still_covers(sdpa_model) -> None:
    try:
        gaps = _uncovered(2000, 510, 600)
        # through the encoder (window 64: 62 content tokens per window, stride 80 -> tokens 62..79 uncovered)
        ids = random_doc(200, seed=7, vocab_size=sdpa_model.config.vocab_size)
        with torch.no_grad():
            enc = encoder(sdpa_model, window=64, stride=80)([ids], [torch.tensor([70])])[0]
    except (ValueError, ConfigError):  # rejecting such a stride is an acceptable fix
        return
    assert not gaps
    assert float(enc.hidden[70].norm()) > 0


# ------------------------------------------------------------------ (e) long DWIE-like documents end to end
def dwie_like_document(fixture_docs_path: Path, blocks: int = 30, late_from: int = 25) -> dict:
    """One long document: the fixture's first two documents repeated ``blocks`` times.

    Entities are merged by name across blocks (as in DWIE, a name recurs throughout a long
    article), except the year "1990" of blocks >= ``late_from``: each is its own entity, so
    those entities have all their mentions far into the document. With one subword per
    word and two markers per mention, a block is 54 words + 22 markers = 76 subwords.
    """
    fixture = json.loads(fixture_docs_path.read_text())[:2]
    sents, names, vertex = [], {}, []
    labels = set()

    def entity(key: str) -> int:
        if key not in names:
            names[key] = len(vertex)
            vertex.append([])
        return names[key]

    for b in range(blocks):
        for doc in fixture:
            offset = len(sents)
            sents.extend(list(s) for s in doc["sents"])
            local = []
            for ent in doc["vertexSet"]:
                name = ent[0]["name"]
                key = f"{name}#{b}" if name == "1990" and b >= late_from else name
                e = entity(key)
                local.append(e)
                for m in ent:
                    vertex[e].append({**m, "sent_id": m["sent_id"] + offset})
            for lab in doc["labels"]:
                labels.add((local[lab["h"]], local[lab["t"]], lab["r"]))
    late = [names[f"1990#{b}"] for b in range(late_from, blocks)]
    labels |= {(names["Brightwater Mills"], e, "P571") for e in late}
    return {"title": "dwie-like", "sents": sents, "vertexSet": vertex,
            "labels": [{"h": h, "t": t, "r": r, "evidence": []} for h, t, r in sorted(labels)]}


@pytest.fixture(scope="module")
def trained_long(tmp_path_factory: pytest.TempPathFactory, tiny_encoder_dir: Path) -> tuple:
    """The tiny BERT (its saved weights, loaded as a pretrained encoder) trained 2 steps on one
    DWIE-like document with data.max_seq_length = 0; returns (train result, data file)."""
    from conftest import tiny_config
    from docre.training import train

    fixture = Path(__file__).parents[1] / "fixtures" / "docs.json"
    tmp = tmp_path_factory.mktemp("dwie_like")
    path = tmp / "dwie_like.json"
    path.write_text(json.dumps([dwie_like_document(fixture)]))
    config = tiny_config(tiny_encoder_dir, tmp / "run", path, **{
        "data.max_seq_length": 0, "train.batch_size": 1, "train.max_steps": 2, "train.epochs": 2})
    return train(config), path


def test_documents_over_2048_subwords_train_and_predict_whole(trained_long, tiny_encoder_dir: Path) -> None:
    from docre.inference import predict

    result, path = trained_long
    assert (result.run_dir / "best_model" / "model.safetensors").exists()
    assert result.history and "f1" in result.best_metrics  # dev evaluation (prediction) ran

    model = result.model.eval()
    tok = load_tokenizer(str(tiny_encoder_dir))
    docs = read_documents(path)
    feats = featurize_documents(docs, tok, model.relations, max_seq_length=model.config.data.max_seq_length)
    f = feats[0]
    assert model.config.data.max_seq_length == 0
    assert len(f.input_ids) == 30 * 76 + 2 > 2048
    assert f.num_truncated_mentions == 0 and len(f.mention_pos) == f.num_mentions
    far = [p for p in f.mention_pos if p > 1024]
    assert len(far) >= 16 * 11  # blocks 14..29 start past subword 1,024 (block b starts at 1 + 76 b)

    with torch.no_grad():
        enc = model.encoder([torch.tensor(f.input_ids)], [torch.tensor(f.mention_pos)])[0]
    assert len(window_starts(len(f.input_ids) - 2, model.encoder.window - 2)) == 5
    assert bool((enc.hidden[far].norm(dim=-1) > 0).all())
    torch.testing.assert_close(enc.query_att.sum(-1), torch.ones(len(f.mention_pos), 4), atol=ATOL, rtol=0)

    triples, logits = predict(model, feats, batch_size=1, return_logits=True)
    n = len(docs[0].entities)
    assert logits[0].shape == (n * (n - 1), model.relations.num_classes)
    assert bool(torch.isfinite(logits[0]).all())
    assert all(t["title"] == "dwie-like" for t in triples)


def test_the_trained_long_document_model_loads_and_predicts(trained_long) -> None:
    from docre.pipeline import Pipeline

    result, path = trained_long
    pipe = Pipeline.from_dir(result.run_dir / "best_model", device="cpu")
    assert pipe.model.config.data.max_seq_length == 0
    preds = pipe.predict(path)
    assert len(preds) == 1 and preds[0]["title"] == "dwie-like"


def test_truncation_at_1024_counts_and_reports_the_lost_mentions(
        fixture_docs_path: Path, tiny_encoder_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    from docre.data.reader import documents_from_json

    tok = load_tokenizer(str(tiny_encoder_dir))
    docs = documents_from_json([dwie_like_document(fixture_docs_path)])
    rels = RelationInventory.from_relations(f.r for f in docs[0].labels)
    whole = featurize_documents(docs, tok, rels, max_seq_length=0)[0]
    # max_seq_length=1024 keeps CLS + 1,022 content tokens + SEP: a marker at position > 1022 is lost
    lost = sum(1 for p in whole.mention_pos if p > 1022)
    cut = featurize_documents(docs, tok, rels, max_seq_length=1024)[0]
    assert len(cut.input_ids) == 1024
    assert cut.num_truncated_mentions == lost > 0
    assert len(cut.mention_pos) == whole.num_mentions - lost
    # the late "1990" entities (blocks 25..29, all past 1,024) keep no mention
    assert sum(1 for m in cut.entity_mentions if not m) == 5
    with caplog.at_level(logging.WARNING, logger="docre.data.features"):
        assert report_truncation([cut], "dwie_like.json", 1024) == lost
    assert f"{lost} mentions in 1 documents lie past max_seq_length=1024" in caplog.text
    assert "5 documents" not in caplog.text and "1 documents have entities left with no mention" in caplog.text


# ---------------------------------------------------------------- model.attention_dropout


@pytest.fixture(scope="module")
def attention_dropout_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT whose only dropout is on attention probabilities (0.1)."""
    from conftest import build_tiny_bert

    d = build_tiny_bert(tmp_path_factory.mktemp("att_drop"), dropout=0.1)
    cfg = json.loads((d / "config.json").read_text())
    cfg["hidden_dropout_prob"] = 0.0
    (d / "config.json").write_text(json.dumps(cfg))
    return d


def _two_training_passes(model: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    ids = random_doc(40, 3, model.config.vocab_size).unsqueeze(0)
    model.train()
    torch.manual_seed(0)
    a = model(input_ids=ids).last_hidden_state
    b = model(input_ids=ids).last_hidden_state
    model.eval()
    with torch.no_grad():
        c = model(input_ids=ids).last_hidden_state
    return a, b, c


def test_attention_dropout_zero_removes_only_the_attention_dropout(attention_dropout_encoder_dir: Path) -> None:
    own = load_pretrained_encoder(str(attention_dropout_encoder_dir), "auto")
    assert own.config.attention_probs_dropout_prob == pytest.approx(0.1)
    a, b, _ = _two_training_passes(own)
    assert not torch.allclose(a, b)  # the encoder's own attention dropout is active in training
    off = load_pretrained_encoder(str(attention_dropout_encoder_dir), "auto", attention_dropout=0.0)
    assert off.config.attention_probs_dropout_prob == 0.0 and off.config.hidden_dropout_prob == 0.0
    a, b, c = _two_training_passes(off)
    torch.testing.assert_close(a, b)  # no dropout left: training passes are deterministic ...
    torch.testing.assert_close(a.detach(), c, rtol=1e-5, atol=1e-5)  # ... and equal the eval pass


def test_attention_dropout_travels_with_the_model_directory(attention_dropout_encoder_dir: Path, tmp_path: Path) -> None:
    from conftest import tiny_config

    from docre.models.model import DocREModel

    cfg = tiny_config(attention_dropout_encoder_dir, tmp_path / "run", Path(__file__).parents[1] / "fixtures" / "docs.json",
                      **{"model.attention_dropout": 0.0})
    tok = load_tokenizer(str(attention_dropout_encoder_dir))
    model = DocREModel.build(cfg, RelationInventory.from_relations(["P17"]), tok)
    assert model.encoder.model.config.attention_probs_dropout_prob == 0.0
    model.save(tmp_path / "model", tok)
    assert json.loads((tmp_path / "model" / "encoder" / "config.json").read_text())["attention_probs_dropout_prob"] == 0.0
    loaded, _ = DocREModel.load(tmp_path / "model")
    assert loaded.config.model.attention_dropout == 0.0
    assert loaded.encoder.model.config.attention_probs_dropout_prob == 0.0


def test_attention_dropout_is_validated() -> None:
    import types

    from docre.config import load_config
    from docre.models.encoder import set_attention_dropout

    with pytest.raises(ConfigError, match=r"model.attention_dropout = 1.0: must be in \[0, 1\)"):
        load_config(overrides={"model.attention_dropout": "1.0"})
    assert load_config(overrides={"model.attention_dropout": "none"}).model.attention_dropout is None
    with pytest.raises(ConfigError, match="has no attention dropout setting"):
        set_attention_dropout(types.SimpleNamespace(hidden_size=8), 0.0, "odd-encoder")
