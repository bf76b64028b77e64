"""Shared fixtures: a tiny BERT built in memory (never downloaded), fixture documents, and
the real-data directory from ``DOCRE_DATA_DIR`` (tests that need it skip without it)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

FIXTURES = Path(__file__).parent / "fixtures"

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _vocab_words() -> list[str]:
    words: set[str] = set()
    for doc in json.loads((FIXTURES / "docs.json").read_text()):
        for s in doc["sents"]:
            words.update(w.lower() for w in s)
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)] + list("0123456789")
    pieces = letters + ["##" + c for c in letters]
    extra = ["*", ",", ".", "(", ")", "-", "'", '"', "the", "of", "and", "in", "a", "was", "is"]
    return SPECIAL + sorted(set(extra) | words | set(pieces))


def build_tiny_bert(d: Path, dropout: float = 0.0, seed: int = 0) -> Path:
    """Write a randomly initialised tiny BERT and its tokenizer into ``d``.

    hidden 32, 2 layers, 4 heads, 512 positions: the shape transformers' own tests use.
    """
    from transformers import BertConfig, BertModel, BertTokenizerFast

    (d / "vocab.txt").write_text("\n".join(_vocab_words()) + "\n")
    tok = BertTokenizerFast(vocab=str(d / "vocab.txt"), do_lower_case=True)  # transformers 5 ignores vocab_file=
    tok.save_pretrained(str(d))
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=len(_vocab_words()), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=64, max_position_embeddings=512, hidden_dropout_prob=dropout,
                     attention_probs_dropout_prob=dropout)
    BertModel(cfg, add_pooling_layer=False).save_pretrained(str(d))
    return d


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding a randomly initialised tiny BERT (no dropout) and its tokenizer."""
    return build_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture
def one_thread():
    """Tiny models are fastest on one thread (and the test machine is shared)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def fixture_docs_path() -> Path:
    return FIXTURES / "docs.json"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``$DOCRE_DATA_DIR`` (e.g. ../shared/data); tests needing real data skip without it."""
    root = os.environ.get("DOCRE_DATA_DIR")
    if not root or not Path(root).is_dir():
        pytest.skip("real data: set DOCRE_DATA_DIR to a directory with redocred/, docred/, dwie/, cdr/")
    return Path(root)


def tiny_config(encoder_dir: Path, out_dir: Path, train_file: Path, **overrides):
    """A config for a fast tiny-model run on CPU."""
    from docre.config import load_config

    o = {
        "model.encoder": str(encoder_dir), "model.emb_size": 32, "model.block_size": 8,
        "data.train_file": str(train_file), "data.dev_file": str(train_file), "data.cache": False,
        "train.output_dir": str(out_dir), "train.epochs": 2, "train.batch_size": 2, "train.device": "cpu",
        "train.lr_encoder": 1e-3, "train.lr_new": 1e-3, "train.warmup_ratio": 0.0, "logging.progress": False,
        "logging.log_every": 1,
    }
    o.update(overrides)
    return load_config(overrides=o)
