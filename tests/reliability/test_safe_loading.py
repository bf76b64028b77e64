"""Model directories load from safetensors + JSON only, and a directory whose parts disagree
(relations.json or config.json vs. the weights) or whose weights were altered is refused
with :class:`ModelDirError` before anything is predicted with it."""
from __future__ import annotations

import hashlib
import json
import pickle
import shutil
from pathlib import Path
from typing import Any, Callable

import pytest
import torch

from docre.errors import DocreError, ModelDirError
from docre.models.model import DocREModel

FIXTURE_DOCS = Path(__file__).resolve().parents[1] / "fixtures" / "docs.json"
PICKLE_SUFFIXES = {".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".npy", ".npz"}


@pytest.fixture(scope="module")
def trained_model(tmp_path_factory: pytest.TempPathFactory, tiny_encoder_dir: Path) -> Path:
    """best_model/ of a tiny model trained for one epoch on the fixture documents."""
    from conftest import tiny_config
    from docre.training import train

    run = tmp_path_factory.mktemp("safe_loading") / "run"
    result = train(tiny_config(tiny_encoder_dir, run, FIXTURE_DOCS, **{"train.epochs": 1}))
    return result.run_dir / "best_model"


@pytest.fixture(scope="module")
def loadable_model(trained_model: Path) -> Path:
    """The trained model directory, once seen to load undamaged: a refusal of a damaged copy
    is then about the damage, not about loading in general."""
    DocREModel.load(trained_model, device="cpu")
    return trained_model


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _edit_json(path: Path, edit: Callable[[Any], None]) -> None:
    obj = json.loads(path.read_text())
    edit(obj)
    path.write_text(json.dumps(obj))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------ no pickle anywhere
def test_saved_model_directory_holds_no_pickle(trained_model: Path) -> None:
    from safetensors import safe_open

    files = [p for p in trained_model.rglob("*") if p.is_file()]
    names = {str(p.relative_to(trained_model)) for p in files}
    assert {"config.json", "model.safetensors", "relations.json", "encoder/config.json"} <= names
    assert any(n.startswith("tokenizer/") for n in names)
    for p in files:
        assert p.suffix not in PICKLE_SUFFIXES, f"{p.name}: a pickle-capable format in a model directory"
        if p.name == "model.safetensors":
            with safe_open(str(p), framework="pt") as fh:  # parses as safetensors, nothing else
                assert len(list(fh.keys())) > 0
        else:
            text = p.read_bytes().decode("utf-8")  # pickles (b"\x80...") and zips (b"PK") are not UTF-8 text
            if p.suffix == ".json":
                json.loads(text)


def test_load_never_unpickles(loadable_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a model directory must load without torch.load / pickle")

    monkeypatch.setattr(torch, "load", forbidden)
    monkeypatch.setattr(torch.serialization, "load", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    model, tokenizer = DocREModel.load(loadable_model, device="cpu")
    from safetensors.torch import load_file

    saved = load_file(str(loadable_model / "model.safetensors"))
    state = model.state_dict()
    assert saved.keys() <= state.keys()
    for key, tensor in saved.items():
        assert torch.equal(state[key].cpu(), tensor), key
    assert not model.training
    assert tokenizer.is_fast


# ------------------------------------------------------------------ altered weights
@pytest.mark.parametrize("where", ["header", "middle", "last"])
def test_one_flipped_byte_in_the_weights_is_refused(trained_model: Path, tmp_path: Path, where: str) -> None:
    model_dir = _copy(trained_model, tmp_path / "model")
    weights = model_dir / "model.safetensors"
    data = bytearray(weights.read_bytes())
    offset = {"header": 12, "middle": len(data) // 2, "last": len(data) - 1}[where]
    data[offset] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelDirError, match="checksum"):
        DocREModel.load(model_dir, device="cpu")


def test_truncated_weights_are_refused(trained_model: Path, tmp_path: Path) -> None:
    model_dir = _copy(trained_model, tmp_path / "model")
    weights = model_dir / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ModelDirError, match="model.safetensors"):
        DocREModel.load(model_dir, device="cpu")


def test_truncated_weights_without_a_checksum_are_refused(trained_model: Path, tmp_path: Path) -> None:
    """Even where config.json carries no checksum, unreadable weights are a ModelDirError."""
    model_dir = _copy(trained_model, tmp_path / "model")
    _edit_json(model_dir / "config.json", lambda c: c.pop("weights_sha256"))
    weights = model_dir / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ModelDirError, match="no weights_sha256"):
        DocREModel.load(model_dir, device="cpu")


def test_weights_of_another_model_are_refused(trained_model: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    model_dir = _copy(trained_model, tmp_path / "model")
    weights = model_dir / "model.safetensors"
    state = load_file(str(weights))
    save_file({k: v + 1e-3 if v.is_floating_point() else v for k, v in state.items()}, str(weights))
    with pytest.raises(ModelDirError, match="checksum"):
        DocREModel.load(model_dir, device="cpu")


# ------------------------------------------------------------------ parts that disagree
def _extra_class(d: Path) -> None:
    _edit_json(d / "relations.json", lambda r: r["ids"].append("P9999"))


def _extra_class_and_count(d: Path) -> None:
    """relations.json and config.json agree with each other, not with the weights."""
    _extra_class(d)
    _edit_json(d / "config.json", lambda c: c.update(num_classes=c["num_classes"] + 1))


def _extra_class_no_count(d: Path) -> None:
    _extra_class(d)
    _edit_json(d / "config.json", lambda c: c.pop("num_classes"))


def _fewer_classes_no_count(d: Path) -> None:
    _edit_json(d / "relations.json", lambda r: r["ids"].pop())
    _edit_json(d / "config.json", lambda c: c.pop("num_classes"))


MISMATCHES: dict[str, tuple[Callable[[Path], None], str, bool]] = {
    # name: (mutation, message fragment, needs a loadable model to be meaningful)
    "relations_extra_class": (_extra_class, "classes but the model was trained with", False),
    "relations_fewer_classes": (lambda d: _edit_json(d / "relations.json", lambda r: r["ids"].pop()),
                                "classes but the model was trained with", False),
    "relations_and_config_extra_class": (_extra_class_and_count, "checksum", True),
    "relations_extra_class_no_count": (_extra_class_no_count, "checksum", True),
    "relations_fewer_classes_no_count": (_fewer_classes_no_count, "checksum", True),
    "relations_not_an_inventory": (lambda d: (d / "relations.json").write_text("[1, 2]"), "relations.json", False),
    "relations_duplicate_id": (lambda d: _edit_json(d / "relations.json", lambda r: r["ids"].append(r["ids"][1])),
                               "listed twice", False),
    "config_emb_size": (lambda d: _edit_json(d / "config.json", lambda c: c["model"].update(emb_size=64)),
                        "head.", True),
    "config_block_size": (lambda d: _edit_json(d / "config.json", lambda c: c["model"].update(block_size=16)),
                          "head.bilinear", True),
    "config_other_head": (lambda d: _edit_json(d / "config.json", lambda c: c["model"].update(head="kmgre")),
                          "head.", True),
    "config_unknown_field": (lambda d: _edit_json(d / "config.json", lambda c: c["model"].update(size=3)),
                             "unknown field model.size", False),
    "config_invalid_choice": (lambda d: _edit_json(d / "config.json", lambda c: c["model"].update(head="bert")),
                              "must be one of", False),
    "config_not_json": (lambda d: (d / "config.json").write_text("{'model': 1}"), "not valid JSON", False),
    "encoder_hidden_size": (lambda d: _edit_json(d / "encoder" / "config.json", lambda c: c.update(hidden_size=64)),
                            "size mismatch", True),
    "encoder_more_layers": (lambda d: _edit_json(d / "encoder" / "config.json",
                                                 lambda c: c.update(num_hidden_layers=3)), "layer.2", True),
    "encoder_vocab_size": (lambda d: _edit_json(d / "encoder" / "config.json",
                                                lambda c: c.update(vocab_size=c["vocab_size"] + 1)),
                           "word_embeddings", True),
    "encoder_config_not_a_config": (lambda d: (d / "encoder" / "config.json").write_text("[1]"),
                                    "encoder/config.json", False),
}


@pytest.mark.parametrize("name", list(MISMATCHES))
def test_parts_that_disagree_with_the_weights_are_refused(name: str, trained_model: Path, tmp_path: Path,
                                                          request: pytest.FixtureRequest) -> None:
    mutate, fragment, needs_loadable = MISMATCHES[name]
    if needs_loadable:  # otherwise any model directory would "fail to match", proving nothing
        request.getfixturevalue("loadable_model")
    model_dir = _copy(trained_model, tmp_path / "model")
    mutate(model_dir)
    weights_before = _sha(model_dir / "model.safetensors")
    with pytest.raises(DocreError) as info:
        DocREModel.load(model_dir, device="cpu")
    assert type(info.value) is ModelDirError, f"{type(info.value).__name__}: {info.value}"
    assert fragment in str(info.value), str(info.value)
    assert str(model_dir) in str(info.value)
    assert _sha(model_dir / "model.safetensors") == weights_before


# ------------------------------------------------------------------ damage caught by checksums and guards
# Each is a damaged model directory that DocREModel.load (docre/models/model.py) does not yet
# refuse with ModelDirError. Not strict: when model.py is fixed they XPASS; then drop the marker.
def _reordered_relations(d: Path) -> None:
    _edit_json(d / "relations.json", lambda r: r.update(ids=[r["ids"][0]] + r["ids"][1:][::-1]))


def _renamed_relation(d: Path) -> None:
    _edit_json(d / "relations.json", lambda r: r["ids"].__setitem__(1, "P9999"))


def _config_is_a_list(d: Path) -> None:
    (d / "config.json").write_text("[]")


def _config_is_a_directory(d: Path) -> None:
    (d / "config.json").unlink()
    (d / "config.json").mkdir()


def _weights_are_a_directory(d: Path) -> None:
    (d / "model.safetensors").unlink()
    (d / "model.safetensors").mkdir()


def _heads_do_not_divide_hidden(d: Path) -> None:
    _edit_json(d / "encoder" / "config.json", lambda c: c.update(num_attention_heads=5))


def _tokenizer_damaged(d: Path) -> None:
    (d / "tokenizer" / "tokenizer.json").write_text("{")


GAPS: dict[str, tuple[Callable[[Path], None], str]] = {
    "relations_reordered_same_count": (
        _reordered_relations, "relations.json is covered by no checksum: same-size reordered or renamed classes "
                              "load silently and every prediction gets the wrong relation"),
    "relations_renamed_same_count": (_renamed_relation, "relations.json is covered by no checksum: a renamed "
                                                        "class loads silently"),
    "config_json_is_a_list": (_config_is_a_list, "raw_cfg.items() on a list: AttributeError"),
    "config_json_is_a_directory": (_config_is_a_directory, "read_text raises IsADirectoryError (only ValueError "
                                                           "and UnicodeDecodeError are caught)"),
    "weights_are_a_directory": (_weights_are_a_directory, "_sha256 open() raises IsADirectoryError"),
    "encoder_heads_do_not_divide_hidden": (_heads_do_not_divide_hidden, "cls.build is not guarded: transformers "
                                                                        "raises ValueError"),
    "tokenizer_damaged": (_tokenizer_damaged, "load_tokenizer raises ConfigError, not ModelDirError"),
}


@pytest.mark.parametrize("name", list(GAPS))
def test_damage_found_by_checksums_and_guards(name: str, trained_model: Path, tmp_path: Path,
                                             request: pytest.FixtureRequest) -> None:
    if name.startswith("relations_"):  # only meaningful where the pristine directory loads
        request.getfixturevalue("loadable_model")
    model_dir = _copy(trained_model, tmp_path / "model")
    GAPS[name][0](model_dir)
    with pytest.raises(DocreError) as info:
        DocREModel.load(model_dir, device="cpu")
    assert type(info.value) is ModelDirError, f"{type(info.value).__name__}: {info.value}"
