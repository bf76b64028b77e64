"""Streaming prediction: the same predictions as the whole-list path, from .json and .jsonl, at
any chunk size; outputs written as they come and never half-written; sharding arithmetic."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
import torch

from docre.cli import main
from docre.data.documents import Document
from docre.data.features import featurize_documents
from docre.data.reader import read_documents
from docre.errors import DataError
from docre.inference import predict
from docre.pipeline import Pipeline, readable_predictions
from docre.streaming import chunked, in_shard, open_documents, shard_size

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "docre" / "resources" / "sample" / "dev.json"

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model_dir(tiny_encoder_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained ATLOP model on the tiny BERT with the sample's relations: random enough to
    predict many triples, so that outputs have something to compare."""
    from conftest import tiny_config
    from docre.data.relations import RelationInventory
    from docre.models.model import DocREModel, load_tokenizer

    out = tmp_path_factory.mktemp("stream_model")
    config = tiny_config(tiny_encoder_dir, out / "run", SAMPLE, **{"model.head": "atlop"})
    relations = RelationInventory.from_file(ROOT / "docre" / "resources" / "sample" / "relations.json")
    tokenizer = load_tokenizer(str(tiny_encoder_dir))
    torch.manual_seed(3)
    model = DocREModel.build(config, relations, tokenizer)
    model.save(out / "model", tokenizer)
    return out / "model"


@pytest.fixture(scope="module")
def pipe(model_dir: Path) -> Pipeline:
    return Pipeline.from_dir(model_dir, device="cpu", batch_size=3)


@pytest.fixture(scope="module")
def reference(pipe: Pipeline) -> list[dict[str, Any]]:
    """Readable predictions the way docre computed them before streaming: all documents
    featurised at once, one length-sorted prediction pass, then matched by title."""
    docs = read_documents(SAMPLE)
    feats = featurize_documents(docs, pipe.tokenizer, pipe.relations, pipe.max_seq_length)
    triples, _ = predict(pipe.model, feats, pipe.batch_size)
    return readable_predictions(docs, triples, pipe.relations)


def _same(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> None:
    """Same documents and relations; scores equal to rounding (batches differ in padding)."""
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert {k: v for k, v in x.items() if k != "relations"} == {k: v for k, v in y.items() if k != "relations"}
        key = lambda r: (r["h"], r["t"], r["r"])  # noqa: E731
        assert sorted(map(key, x["relations"])) == sorted(map(key, y["relations"]))
        sx = {key(r): r["score"] for r in x["relations"]}
        for r in y["relations"]:
            assert r["score"] == pytest.approx(sx[key(r)], abs=2e-6)


def test_reference_predicts_something(reference: list[dict[str, Any]]) -> None:
    assert len(reference) == 20
    assert sum(len(r["relations"]) for r in reference) > 50  # the comparisons below are not vacuous


@pytest.mark.parametrize("chunk_size", [1, 4, 256])
def test_stream_equals_the_whole_list_path(pipe: Pipeline, reference, tmp_path: Path, chunk_size: int) -> None:
    pipe.chunk_size = chunk_size
    try:
        jsonl = tmp_path / "dev.jsonl"
        jsonl.write_text("\n".join(json.dumps(d) for d in json.loads(SAMPLE.read_text())), encoding="utf-8")
        from_json = list(pipe.predict_stream(SAMPLE))
        _same(reference, from_json)
        assert list(pipe.predict_stream(jsonl)) == from_json
        assert pipe.predict(json.loads(SAMPLE.read_text())) == from_json  # a list of dicts
        assert pipe.predict(read_documents(SAMPLE)) == from_json  # Document objects
        assert pipe.predict(iter(json.loads(SAMPLE.read_text()))) == from_json  # any iterable
        triples = pipe.predict_triples(SAMPLE)
        assert [(t["title"], t["h_idx"], t["t_idx"], t["r"]) for t in triples] == [
            (p["title"], r["h"], r["t"], r["r"]) for p in from_json
            for r in sorted(p["relations"], key=lambda r: (r["h"], r["t"], pipe.relations.index(r["r"])))]
    finally:
        pipe.chunk_size = 256


def test_stream_validates_as_it_goes(pipe: Pipeline) -> None:
    raw = json.loads(SAMPLE.read_text())[:5]
    raw[3] = dict(raw[3], vertexSet=[[{"name": "x", "sent_id": 0, "pos": [0, 999]}]])
    it = pipe.predict_stream(iter(raw), precheck=False)
    with pytest.raises(DataError) as info:
        list(it)
    assert (info.value.file, info.value.doc_index, info.value.title, info.value.field) == \
        ("<documents>", 3, raw[3]["title"], "vertexSet[0][0].pos")


def test_file_precheck_fails_before_any_prediction(pipe: Pipeline, tmp_path: Path, monkeypatch) -> None:
    raw = json.loads(SAMPLE.read_text())
    raw[17] = dict(raw[17], title=raw[2]["title"])
    path = tmp_path / "dup.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    calls = []
    monkeypatch.setattr("docre.streaming.featurize_documents", lambda *a, **k: calls.append(1))
    with pytest.raises(DataError) as info:
        next(pipe.stream(path))
    assert (info.value.doc_index, info.value.field) == (17, "title") and calls == []


def test_open_documents_totals(tmp_path: Path) -> None:
    assert open_documents(SAMPLE).total == 20
    assert open_documents(SAMPLE, precheck=False).total is None
    assert open_documents(json.loads(SAMPLE.read_text())[:3]).total == 3
    assert open_documents(iter([])).total is None


def _cli(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    rc = main(argv)
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def test_cli_predict_writes_the_list_as_before(model_dir: Path, reference, tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "preds.json"
    rc, stdout, _ = _cli(["predict", "--model", str(model_dir), "--data", str(SAMPLE), "--out", str(out),
                          "--device", "cpu", "--quiet", "--batch-size", "3", "--chunk-size", "7"], capsys)
    assert rc == 0
    preds = json.loads(out.read_text(encoding="utf-8"))
    _same(reference, preds)
    # the bytes atomic_write_json wrote for the whole list before streaming
    assert out.read_text(encoding="utf-8") == json.dumps(preds, indent=2, ensure_ascii=False) + "\n"
    n = sum(len(p["relations"]) for p in preds)
    assert stdout.strip() == f"20 documents, {n} predicted relations -> {out}"
    out_l = tmp_path / "preds.jsonl"
    assert _cli(["predict", "--model", str(model_dir), "--data", str(SAMPLE), "--out", str(out_l), "--device", "cpu",
                 "--quiet", "--batch-size", "3", "--chunk-size", "7"], capsys)[0] == 0
    assert [json.loads(line) for line in out_l.read_text(encoding="utf-8").rstrip("\n").split("\n")] == preds
    assert sorted(p.name for p in tmp_path.iterdir()) == ["preds.json", "preds.jsonl"]


def test_cli_submit_streams_the_same_result_json(model_dir: Path, pipe: Pipeline, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    from docre.evaluation import write_result_json

    out = tmp_path / "result.json"
    rc, stdout, _ = _cli(["submit", "--model", str(model_dir), "--data", str(SAMPLE), "--out", str(out),
                          "--device", "cpu", "--quiet", "--batch-size", "3", "--zip"], capsys)
    assert rc == 0
    want = tmp_path / "want" / "result.json"
    n = write_result_json(pipe.predict_triples(SAMPLE), want)
    assert out.read_bytes() == want.read_bytes() and n > 50
    with zipfile.ZipFile(tmp_path / "result.zip") as zf:
        assert zf.namelist() == ["result.json"] and zf.read("result.json") == want.read_bytes()
    assert stdout.strip() == f"20 documents, {n} triples -> {out} (and {tmp_path / 'result.zip'})"


def test_cli_bad_document_midway_writes_nothing(model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
                                                ) -> None:
    raw = json.loads(SAMPLE.read_text())
    raw[15]["vertexSet"][0][0]["sent_id"] = 99
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(json.dumps(d) for d in raw), encoding="utf-8")
    out = tmp_path / "out" / "preds.json"
    for command in ("predict", "submit", "inspect"):
        rc, _, stderr = _cli([command, "--model", str(model_dir), "--data", str(path), "--out", str(out),
                              "--device", "cpu", "--quiet", "--chunk-size", "2"], capsys)
        assert rc == 2
        assert stderr.startswith(f"docre: error: {path}, document 15, title {raw[15]['title']!r}, "
                                 "field vertexSet[0][0].sent_id") and len(stderr.splitlines()) == 1
        assert not out.parent.exists() or list(out.parent.iterdir()) == []
    # the data is checked before the model is loaded: no time lost loading a model for bad data
    rc, _, stderr = _cli(["predict", "--model", str(tmp_path / "no_model"), "--data", str(path), "--out", str(out),
                          "--device", "cpu", "--quiet"], capsys)
    assert rc == 2 and stderr.startswith(f"docre: error: {path}, document 15")


def test_cli_failure_during_prediction_leaves_no_output(model_dir: Path, tmp_path: Path, monkeypatch,
                                                        capsys: pytest.CaptureFixture) -> None:
    """A failure after some chunks were written (here: the model on the third chunk) leaves no file."""
    import docre.streaming as S

    real, calls = S.featurize_documents, []

    def failing(docs, *a, **k):
        calls.append(len(docs))
        if len(calls) == 3:
            raise RuntimeError("out of memory on chunk 3")
        return real(docs, *a, **k)

    monkeypatch.setattr(S, "featurize_documents", failing)
    out = tmp_path / "preds.json"
    out.write_text("previous", encoding="utf-8")
    with pytest.raises(RuntimeError):
        main(["predict", "--model", str(model_dir), "--data", str(SAMPLE), "--out", str(out), "--device", "cpu",
              "--quiet", "--chunk-size", "4"])
    assert calls == [4, 4, 4]
    assert out.read_text() == "previous" and [p.name for p in tmp_path.iterdir()] == ["preds.json"]


def test_cli_inspect_streams_the_same_records(model_dir: Path, pipe: Pipeline, tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    from docre.inspect.attribution import SCHEMA_VERSION, aggregate, explain_documents
    from docre.inspect.report import render_html

    data = tmp_path / "data" / "eight.json"  # eight documents: an untrained model predicts many triples
    data.parent.mkdir()
    data.write_text(json.dumps(json.loads(SAMPLE.read_text())[:8]), encoding="utf-8")
    docs = read_documents(data)
    records = explain_documents(pipe.model, pipe.tokenizer, docs, top_k=3, batch_size=3)
    out = tmp_path / "inspect.json"
    rc, stdout, _ = _cli(["inspect", "--model", str(model_dir), "--data", str(data), "--out", str(out),
                          "--device", "cpu", "--quiet", "--batch-size", "3", "--top-k", "3", "--chunk-size", "3"],
                         capsys)
    assert rc == 0
    got = json.loads(out.read_text(encoding="utf-8"))
    assert got["schema_version"] == SCHEMA_VERSION and list(got) == ["schema_version", "meta", "aggregate", "documents"]
    assert [r["title"] for r in got["documents"]] == [d.title for d in docs]
    for a, b in zip(got["documents"], records):
        assert [(t["h"], t["t"], t["r"]) for t in a["triples"]] == [(t["h"], t["t"], t["r"]) for t in b["triples"]]
    assert got["aggregate"] == aggregate(got["documents"])
    assert got["aggregate"]["triples"] == aggregate(records)["triples"]
    assert out.read_text(encoding="utf-8") == json.dumps(got, indent=2, ensure_ascii=False) + "\n"
    # the page embeds the same payload render_html builds from the records in memory
    page = tmp_path / "inspect.html"
    assert _cli(["inspect", "--model", str(model_dir), "--data", str(data), "--out", str(page), "--device", "cpu",
                 "--quiet", "--batch-size", "3", "--top-k", "3", "--chunk-size", "3"], capsys)[0] == 0
    assert page.read_text(encoding="utf-8") == render_html(got["documents"], got["aggregate"], meta=got["meta"])
    # --doc keeps the order asked for, selecting by title or index
    sel = tmp_path / "sel.json"
    assert _cli(["inspect", "--model", str(model_dir), "--data", str(data), "--out", str(sel), "--device", "cpu",
                 "--quiet", "--doc", docs[6].title, "3", "--top-k", "3"], capsys)[0] == 0
    assert [r["title"] for r in json.loads(sel.read_text())["documents"]] == [docs[6].title, docs[3].title]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "inspect.html", "inspect.json", "sel.json"]


def test_chunks_and_shards() -> None:
    assert list(chunked(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(chunked([], 3)) == []
    for total in (0, 1, 5, 12, 13, 100):
        for world in (1, 2, 3, 5):
            for chunk in (1, 4, 256):
                owners = [[r for r in range(world) if in_shard(p, r, world, chunk)] for p in range(total)]
                assert all(len(o) == 1 for o in owners)  # every item in exactly one shard
                for r in range(world):
                    assert shard_size(total, r, world, chunk) == sum(1 for o in owners if o == [r])
                    mine = [p for p in range(total) if in_shard(p, r, world, chunk)]
                    # a shard is whole chunks of the single-process chunking: same batches, same numbers
                    assert all(c == list(range(c[0], c[0] + len(c))) and c[0] % chunk == 0
                               for c in chunked(mine, chunk))
