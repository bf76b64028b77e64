"""The malformed-input corpus (tests/malformed): every file is rejected cleanly, nothing is lost.

For each file of ``tests/malformed/cases.json``:

* the API (``read_documents``, ``read_predictions``, ``RelationInventory.from_file``,
  ``load_config``) raises exactly the documented exception type, a :class:`DocreError`,
  whose message names the file, the document (index and title) and the field;
* every ``docre`` command listed for it exits with code 2 and one stderr line
  ``docre: error: ...`` naming the same, and creates or changes no file (a fresh
  ``--out`` path stays absent, an existing one keeps its bytes, the corpus is untouched).

Model directories are damaged copies of a tiny model trained here (not committed), and a
200,000-word document checks that valid but huge input is accepted, not crashed on.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
from pathlib import Path
from typing import Any, Optional

import pytest

from docre.cli import main
from docre.config import load_config
from docre.data.reader import documents_from_json, read_documents
from docre.data.relations import RelationInventory
from docre.errors import ConfigError, DataError, DocreError, ModelDirError
from docre.evaluation.official import read_predictions

CORPUS = Path(__file__).resolve().parents[1] / "malformed"
MANIFEST = json.loads((CORPUS / "cases.json").read_text(encoding="utf-8"))
CASES: list[dict[str, Any]] = MANIFEST["cases"]
GENERATED = {g["name"]: g for g in MANIFEST["generated"]}
MODEL_CASES = [g for g in MANIFEST["generated"] if "mutation" in g]
EXCEPTIONS = {"DataError": DataError, "ConfigError": ConfigError, "ModelDirError": ModelDirError}
HAS_DATA_COMMAND = importlib.util.find_spec("docre.data.stats") is not None
PREVIOUS = b'{"previous": "output, must survive a failed run"}\n'
FIXTURE_DOCS = Path(__file__).resolve().parents[1] / "fixtures" / "docs.json"


def _tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` (relative path -> sha256): to prove nothing was written."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _read(case: dict[str, Any], path: Path, tmp_path: Path) -> Any:
    """Read ``path`` with the API the case names."""
    reader = case["reader"]
    if reader == "read_documents":
        relations = None
        if case.get("relations") is not None:
            rel = tmp_path / "rel2id.json"
            rel.write_text(json.dumps(case["relations"]), encoding="utf-8")
            relations = RelationInventory.from_file(rel)
        return read_documents(path, relations=relations)
    if reader == "read_predictions":
        return read_predictions(path)
    if reader == "RelationInventory.from_file":
        return RelationInventory.from_file(path)
    if reader == "load_config":
        return load_config(path)
    raise AssertionError(f"unknown reader {reader!r} in cases.json")


def _check_message(message: str, case: dict[str, Any], path: Path) -> None:
    assert str(path) in message, f"the message does not name the file: {message}"
    if case.get("doc_index") is not None:
        assert f"document {case['doc_index']}" in message, message
    if case.get("title") is not None:
        assert f"title {case['title']!r}" in message, message
    if case.get("field"):
        assert case["field"] in message, f"the message does not name the field {case['field']}: {message}"
    for fragment in case["fragments"]:
        assert fragment in message, f"{fragment!r} not in: {message}"


# ------------------------------------------------------------------ the corpus
def test_corpus_has_at_least_30_distinct_faults() -> None:
    files = sorted(p.name for p in CORPUS.iterdir() if p.name != "cases.json")
    listed = [c["file"] for c in CASES]
    assert sorted(listed) == files, "every corpus file is in cases.json exactly once, and exists"
    assert len(files) >= 30
    assert len({c["fault"] for c in CASES}) == len(CASES), "one distinct fault per file"
    assert len({(CORPUS / f).read_bytes() for f in files}) == len(files)
    assert all(c["exception"] in EXCEPTIONS for c in CASES + MODEL_CASES)


def test_base_documents_are_valid() -> None:
    """Each DocRED file is these documents with one fault, so the fault is what is rejected."""
    docs = documents_from_json(MANIFEST["base_documents"], "base_documents")
    assert [d.title for d in docs] == ["Ada Perrin", "Kelmar"]


# ------------------------------------------------------------------ the API
@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_api_raises_the_documented_error(case: dict[str, Any], tmp_path: Path) -> None:
    path = CORPUS / case["file"]
    before = _tree(CORPUS)
    with pytest.raises(DocreError) as info:
        _read(case, path, tmp_path)
    exc = info.value
    assert type(exc) is EXCEPTIONS[case["exception"]], f"{type(exc).__name__}: {exc}"
    _check_message(str(exc), case, path)
    if isinstance(exc, DataError):
        assert exc.file == str(path)
        assert exc.doc_index == case["doc_index"]
        if case["field"] and case["reader"] != "load_config":
            assert exc.field == case["field"]
    assert _tree(CORPUS) == before


# ------------------------------------------------------------------ the CLI
def _fill(argv: list[str], values: dict[str, str]) -> list[str]:
    out = []
    for a in argv:
        for key, value in values.items():
            a = a.replace("{" + key + "}", value)
        assert "{" not in a, f"unfilled placeholder in {a!r}"
        out.append(a)
    return out


def _valid_inputs(tmp_path: Path, case: Optional[dict[str, Any]] = None) -> dict[str, str]:
    inputs = tmp_path / "inputs"
    inputs.mkdir(exist_ok=True)
    gold = inputs / "gold.json"
    gold.write_text(json.dumps(MANIFEST["base_documents"]), encoding="utf-8")
    preds = inputs / "preds.json"
    preds.write_text("[]\n", encoding="utf-8")
    values = {"valid_gold": str(gold), "valid_preds": str(preds), "valid_docs": str(gold)}
    if case is not None and case.get("relations") is not None:
        rel = inputs / "rel2id.json"
        rel.write_text(json.dumps(case["relations"]), encoding="utf-8")
        values["relations"] = str(rel)
    return values


def _run_cli(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(argv)
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def _needs_data_command(argv: list[str]) -> None:
    if argv[0] == "data" and not HAS_DATA_COMMAND:
        pytest.skip("docre data stats/validate (docre.data.stats) is not there yet")


CLI_CASES = [(c, argv) for c in CASES for argv in c["cli"]]


@pytest.mark.parametrize("case,argv", CLI_CASES, ids=[f"{c['file']}-{a[0]}-{a[1]}" for c, a in CLI_CASES])
def test_cli_exits_2_names_the_problem_and_writes_nothing(case: dict[str, Any], argv: list[str], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    _needs_data_command(argv)
    path = CORPUS / case["file"]
    values = _valid_inputs(tmp_path, case)
    values["file"] = str(path)
    corpus_before = _tree(CORPUS)
    for existing in (False, True):  # a fresh --out path, then one that holds a previous result
        out = tmp_path / ("existing" if existing else "fresh") / "out.json"
        if existing:
            out.parent.mkdir()
            out.write_bytes(PREVIOUS)
        values["out"] = str(out)
        inputs_before = _tree(tmp_path)
        rc, stdout, stderr = _run_cli(_fill(argv, values), capsys)
        assert rc == 2, f"exit code {rc}; stdout {stdout!r}; stderr {stderr!r}"
        if argv[:2] == ["data", "validate"] and not stderr:
            # validate lists every problem on stdout (one per line, then a summary) and exits 2
            first = stdout.splitlines()[0]
            _check_message(first, case, path)
        else:
            lines = stderr.splitlines()
            assert len(lines) == 1 and lines[0].startswith("docre: error: "), stderr
            _check_message(lines[0], case, path)
        if existing:
            assert out.read_bytes() == PREVIOUS, "a failed run changed an existing output file"
        else:
            assert not out.exists(), "a failed run created its output"
        assert _tree(tmp_path) == inputs_before, "a failed run wrote a file"
    assert _tree(CORPUS) == corpus_before


# ------------------------------------------------------------------ a huge, valid document
def _huge_document() -> dict[str, Any]:
    spec = GENERATED["huge_document"]
    n_sents = spec["words"] // spec["sentence_length"]
    sents = [[f"w{(s * 7 + i) % 50}" for i in range(spec["sentence_length"])] for s in range(n_sents)]
    for s in (0, n_sents // 2, n_sents - 1):
        sents[s][:2] = ["Ada", "Perrin"]
        sents[s][5] = "Lunden"
    vertex_set = [
        [{"name": "Ada Perrin", "sent_id": s, "pos": [0, 2], "type": "PER"} for s in (0, n_sents // 2, n_sents - 1)],
        [{"name": "Lunden", "sent_id": s, "pos": [5, 6], "type": "LOC"} for s in (0, n_sents - 1)],
    ]
    labels = [{"h": 0, "t": 1, "r": "P19", "evidence": [0, n_sents - 1]}]
    return {"title": "Huge", "sents": sents, "vertexSet": vertex_set, "labels": labels}


@pytest.fixture(scope="module")
def huge_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("huge") / "huge.json"
    path.write_text(json.dumps([_huge_document()]), encoding="utf-8")
    return path


def test_huge_document_is_accepted(huge_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Decision: a 200,000-word document is valid DocRED and is accepted (reading is linear; the
    encoder input is cut at data.max_seq_length and the dropped mentions are reported)."""
    (doc,) = read_documents(huge_file)
    assert doc.num_words == GENERATED["huge_document"]["words"]
    assert len(doc.entities) == 2 and len(doc.labels) == 1
    preds = tmp_path / "preds.json"
    preds.write_text(json.dumps([{"title": "Huge", "h_idx": 0, "t_idx": 1, "r": "P19", "evidence": [0]}]))
    out = tmp_path / "scores.json"
    rc, stdout, stderr = _run_cli(["evaluate", "--pred", str(preds), "--gold", str(huge_file), "--out", str(out)],
                                  capsys)
    assert rc == 0, stderr
    assert json.loads(out.read_text())["f1"] == pytest.approx(100.0)
    if HAS_DATA_COMMAND:
        rc, stdout, stderr = _run_cli(["data", "validate", str(huge_file)], capsys)
        assert rc == 0 and "no problems" in stdout, stdout + stderr


# ------------------------------------------------------------------ model directories
@pytest.fixture(scope="module")
def trained_model(tmp_path_factory: pytest.TempPathFactory, tiny_encoder_dir: Path) -> Path:
    """A tiny model trained for one epoch on the fixture documents; its best_model directory."""
    from conftest import tiny_config
    from docre.training import train

    run = tmp_path_factory.mktemp("trained") / "run"
    result = train(tiny_config(tiny_encoder_dir, run, FIXTURE_DOCS, **{"train.epochs": 1}))
    model_dir = result.run_dir / "best_model"
    assert (model_dir / "model.safetensors").is_file()
    return model_dir


@pytest.fixture(scope="module")
def loadable_model(trained_model: Path) -> Path:
    """The trained model directory, once DocREModel.load has been seen to load it undamaged (so a
    refusal of a damaged copy is about the damage)."""
    from docre.models.model import DocREModel

    DocREModel.load(trained_model, device="cpu")
    return trained_model


def _mutate(model_dir: Path, case: dict[str, Any]) -> None:
    target = model_dir / case["path"]
    mutation = case["mutation"]
    if mutation == "delete":
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink()
    elif mutation == "flip_byte":
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0x01  # one bit of one byte, in the middle of the tensor data
        target.write_bytes(bytes(data))
    elif mutation == "add_relation":
        obj = json.loads(target.read_text())
        obj["ids"].append("P9999")
        target.write_text(json.dumps(obj))
    elif mutation == "write":
        target.write_text(case["text"])
    else:
        raise AssertionError(f"unknown mutation {mutation!r} in cases.json")


@pytest.mark.parametrize("case", MODEL_CASES, ids=[c["name"] for c in MODEL_CASES])
def test_damaged_model_directory(case: dict[str, Any], trained_model: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture) -> None:
    from docre.models.model import DocREModel

    model_dir = tmp_path / "model"
    shutil.copytree(trained_model, model_dir)
    _mutate(model_dir, case)
    model_before = _tree(model_dir)
    with pytest.raises(DocreError) as info:
        DocREModel.load(model_dir, device="cpu")
    assert type(info.value) is ModelDirError, f"{type(info.value).__name__}: {info.value}"
    for fragment in case["fragments"]:
        assert fragment in str(info.value), str(info.value)
    assert str(model_dir) in str(info.value)

    values = _valid_inputs(tmp_path)
    values["model"] = str(model_dir)
    for command in ("predict", "submit"):
        for existing in (False, True):
            out = tmp_path / command / ("existing" if existing else "fresh") / "out.json"
            out.parent.mkdir(parents=True)
            if existing:
                out.write_bytes(PREVIOUS)
            before = _tree(tmp_path)
            rc, stdout, stderr = _run_cli([command, "--model", str(model_dir), "--data", values["valid_docs"],
                                           "--out", str(out), "--device", "cpu", "--quiet"], capsys)
            assert rc == 2, f"exit code {rc}; stderr {stderr!r}"
            lines = stderr.splitlines()
            assert len(lines) == 1 and lines[0].startswith("docre: error: ") and str(model_dir) in lines[0], stderr
            for fragment in case["fragments"]:
                assert fragment in lines[0]
            assert (out.read_bytes() == PREVIOUS) if existing else not out.exists()
            assert not out.with_suffix(".zip").exists()
            assert _tree(tmp_path) == before
    assert _tree(model_dir) == model_before, "loading must not change the model directory"


def test_predict_rejects_malformed_documents_and_writes_nothing(loadable_model: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture) -> None:
    """A good model and a bad data file: exit 2 naming the data file, no output."""
    case = next(c for c in CASES if c["file"] == "pos_outside_sentence.json")
    path = CORPUS / case["file"]
    out = tmp_path / "out.json"
    rc, _, stderr = _run_cli(["predict", "--model", str(loadable_model), "--data", str(path), "--out", str(out),
                              "--device", "cpu", "--quiet"], capsys)
    assert rc == 2 and len(stderr.splitlines()) == 1
    _check_message(stderr.strip(), case, path)
    assert not out.exists()


def test_predict_on_the_huge_document(loadable_model: Path, huge_file: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "predictions.json"
    rc, stdout, stderr = _run_cli(["predict", "--model", str(loadable_model), "--data", str(huge_file),
                                   "--out", str(out), "--device", "cpu", "--quiet"], capsys)
    assert rc == 0, stderr
    (pred,) = json.loads(out.read_text())
    assert pred["title"] == "Huge"


# ------------------------------------------------------------------ a failed train writes no run directory
def test_train_on_malformed_data_writes_nothing(tiny_encoder_dir: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    case = next(c for c in CASES if c["file"] == "unknown_relation.json")
    rel = tmp_path / "rel2id.json"
    rel.write_text(json.dumps(case["relations"]))
    run_dir = tmp_path / "run"
    argv = ["train", "--model.encoder", str(tiny_encoder_dir), "--model.emb_size", "32", "--model.block_size", "8",
            "--data.train_file", str(CORPUS / case["file"]), "--data.relations_file", str(rel),
            "--data.cache_dir", str(tmp_path / "cache"), "--train.output_dir", str(run_dir),
            "--train.device", "cpu", "--logging.progress", "false"]
    rc, _, stderr = _run_cli(argv, capsys)
    assert rc == 2 and len(stderr.splitlines()) == 1
    _check_message(stderr.strip(), case, CORPUS / case["file"])
    assert not run_dir.exists() and not (tmp_path / "cache").exists()
