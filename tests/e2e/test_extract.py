"""``docre extract`` / ``Pipeline.extract``: text in, DocRED documents with entities and relations out;
bad input refused with one clear error and no output; ``docre evaluate --end-to-end``; ``docre inspect``
on an extract output."""
from __future__ import annotations

import json

import pytest
import torch

from docre.cli import main
from docre.data.reader import documents_from_json, read_documents
from docre.e2e.extract import extract_chunk, extract_records, iter_text_inputs, write_records
from docre.e2e.model import PredictedEntities
from docre.errors import DataError, DataProblem
from docre.pipeline import Pipeline
from docre.resources import sample_path

TEXT = ("Tholyan Bacaibosell was born in Glyawu . Glyawu is a town in the east of Jetharnand .\n"
        "In 2011 , Bacaibosell was hired by Rebrem Mining Group ( RMG ) .")


def _check_record(rec: dict, text: str) -> None:
    """A record is a valid DocRED document whose mentions' char spans slice the text to their names."""
    assert rec["text"] == text
    documents_from_json([{k: v for k, v in rec.items() if k != "relations"}], source="record")
    words = [w for s in rec["sents"] for w in s]
    for ent in rec["vertexSet"]:
        types = {m["type"] for m in ent}
        assert len(types) == 1
        for m in ent:
            b, e = m["char_span"]
            assert text[b:e] == m["name"]
            # the words of the mention are the text of its span without the whitespace between them
            assert "".join(m["name"].split()) == "".join(rec["sents"][m["sent_id"]][m["pos"][0]:m["pos"][1]])
            assert 0.0 <= m["score"] <= 1.0
    assert words  # a text with words has sentences
    n = len(rec["vertexSet"])
    for r in rec["relations"]:
        assert 0 <= r["h"] < n and 0 <= r["t"] < n and r["h"] != r["t"] and 0.5 < r["score"] <= 1.0
        assert set(r) == {"h", "t", "r", "relation", "score", "head", "head_type", "tail", "tail_type"}


def test_extract_a_text(trained_joint, one_thread):
    rec = extract_chunk(trained_joint.model, trained_joint.tokenizer, [("doc1", TEXT)])[0]
    assert rec["id"] == rec["title"] == "doc1" and rec["index"] == 0
    assert rec["sents"][0][:3] == ["Tholyan", "Bacaibosell", "was"] and len(rec["sents"]) == 3
    assert len(rec["vertexSet"]) >= 2
    _check_record(rec, TEXT)


def test_char_spans_slice_the_text_exactly_on_every_dev_document(trained_joint, one_thread):
    docs = read_documents(sample_path("dev.json"))
    from docre.e2e.evaluate import gold_text

    items = [(d.title, gold_text(d)[0]) for d in docs]
    recs = list(extract_records(trained_joint.model, trained_joint.tokenizer, items, batch_size=8))
    assert sum(len(r["vertexSet"]) for r in recs) > len(docs)
    for (_, text), rec in zip(items, recs):
        _check_record(rec, text)


def test_unicode_text(trained_joint, one_thread):
    text = "Zoë Ñúñez (佐藤) visited Kraków 🙂 in 2011 .\r\nShe met Ōtsuka-Müller at the Grigral Medal ceremony ."
    rec = extract_chunk(trained_joint.model, trained_joint.tokenizer, [("u", text)])[0]
    assert "Kraków" in rec["sents"][0] and "🙂" in rec["sents"][0]
    _check_record(rec, text)
    # a mention found anywhere slices the text at code-point offsets, emoji and CJK included
    for w, s in ((w, s) for s in rec["sents"] for w in s):
        assert w in text


def test_very_long_text_goes_through_sliding_windows(trained_joint, one_thread):
    """About 3,000 words (several times the tiny encoder's 512 positions): whole, no mention lost at the cut."""
    text = " ".join([TEXT.replace("\n", " ")] * 80)
    rec = extract_chunk(trained_joint.model, trained_joint.tokenizer, [("long", text)])[0]
    n_words = sum(len(s) for s in rec["sents"])
    assert n_words == 31 * 80
    _check_record(rec, text)
    last_sent = max(m["sent_id"] for e in rec["vertexSet"] for m in e)
    assert last_sent >= len(rec["sents"]) - 3  # mentions are found at the very end too


def test_text_with_no_entity(trained_joint, monkeypatch, one_thread):
    monkeypatch.setattr(trained_joint.model.config.e2e, "mention_threshold", 2.0)  # no span can reach it
    rec = extract_chunk(trained_joint.model, trained_joint.tokenizer, [("none", TEXT)])[0]
    assert rec["vertexSet"] == [] and rec["relations"] == []
    assert len(rec["sents"]) == 3
    _check_record(rec, TEXT)


def test_text_with_one_entity(trained_joint, monkeypatch, one_thread):
    """One entity (two mentions): no entity pair, so no relation, and nothing breaks."""
    model = trained_joint.model

    def one(hidden, view):
        return PredictedEntities(mentions=[(0, 2), (7, 8)], mention_scores=[0.9, 0.8],
                                 type_probs=torch.zeros(2, len(model.entity_types)), clusters=[[0, 1]],
                                 entity_types=["PER"])

    monkeypatch.setattr(model, "predict_entities", one)
    rec = extract_chunk(model, trained_joint.tokenizer, [("one", TEXT)])[0]
    assert [[m["name"] for m in e] for e in rec["vertexSet"]] == [["Tholyan Bacaibosell", "Glyawu"]]
    assert rec["vertexSet"][0][0]["char_span"] == [0, 19] and rec["vertexSet"][0][1]["sent_id"] == 1
    assert rec["relations"] == []
    _check_record(rec, TEXT)


def test_chunking_does_not_change_the_output(trained_joint, one_thread):
    items = [(f"d{i}", t) for i, t in enumerate([TEXT, "Glyawu is in Jetharnand .", TEXT[:60], TEXT[40:]])]
    one = list(extract_records(trained_joint.model, trained_joint.tokenizer, items, batch_size=1))
    three = list(extract_records(trained_joint.model, trained_joint.tokenizer, items, batch_size=3))
    assert [r["index"] for r in three] == [0, 1, 2, 3]
    for a, b in zip(one, three):
        assert a["vertexSet"] == b["vertexSet"]
        assert [(r["h"], r["t"], r["r"]) for r in a["relations"]] == [(r["h"], r["t"], r["r"]) for r in b["relations"]]
        for x, y in zip(a["relations"], b["relations"]):
            assert x["score"] == pytest.approx(y["score"], abs=1e-4)


def test_pipeline_extract(trained_joint, one_thread):
    pipe = Pipeline(trained_joint.model, trained_joint.tokenizer)
    rec = pipe.extract(TEXT, id="p")
    assert rec["id"] == "p" and rec == extract_chunk(trained_joint.model, trained_joint.tokenizer, [("p", TEXT)])[0]
    recs = list(pipe.extract_many(["Glyawu is a town .", ("x", "KPH is in Glyawu .")]))
    assert [r["id"] for r in recs] == ["0", "x"]
    with pytest.raises(DataError, match="empty text"):
        pipe.extract("   \n")


def test_extract_in_bf16_runs_the_encoder_in_bfloat16_and_finds_the_same_mentions(trained_joint, one_thread):
    model = trained_joint.model
    seen: set = set()
    hooks = [m.register_forward_hook(lambda mod, inp, out: seen.add(out.dtype))
             for m in model.encoder.modules() if isinstance(m, torch.nn.Linear)]
    try:
        ref = Pipeline(model, trained_joint.tokenizer).extract(TEXT, id="a")
        assert seen == {torch.float32}
        seen.clear()
        low = Pipeline(model, trained_joint.tokenizer, precision="bf16").extract(TEXT, id="a")
        assert seen == {torch.bfloat16}
    finally:
        for h in hooks:
            h.remove()
        model.inference_precision = "fp32"  # the shared model goes back as it came
    _check_record(low, TEXT)
    spans = lambda rec: {tuple(m["char_span"]) for e in rec["vertexSet"] for m in e}  # noqa: E731
    assert len(spans(ref)) >= 2
    assert len(spans(ref) & spans(low)) >= 0.8 * len(spans(ref))


def test_repeated_ids_are_refused(trained_joint):
    with pytest.raises(DataError, match="id used by an earlier"):
        list(extract_records(trained_joint.model, trained_joint.tokenizer, [("a", "x ."), ("a", "y .")]))


# ---------------------------------------------------------------------------- inputs
def test_inputs_txt_directory_and_jsonl(tmp_path):
    (tmp_path / "one.txt").write_text("First text .", encoding="utf-8")
    d = tmp_path / "dir"
    d.mkdir()
    (d / "b.txt").write_text("Bee .", encoding="utf-8")
    (d / "a.txt").write_text("\ufeffAy .", encoding="utf-8")  # a byte-order mark is dropped
    (d / "notes.md").write_text("ignored", encoding="utf-8")
    j = tmp_path / "in.jsonl"
    j.write_text('{"id": "x", "text": "Ex ."}\n\n{"id": 7, "text": "Seven ."}\n{"text": "No id ."}\n', encoding="utf-8")
    assert list(iter_text_inputs(tmp_path / "one.txt")) == [("one", "First text .")]
    assert list(iter_text_inputs(d)) == [("a", "Ay ."), ("b", "Bee .")]
    assert list(iter_text_inputs(j)) == [("x", "Ex ."), ("7", "Seven ."), ("in:4", "No id .")]


@pytest.mark.parametrize("name, content, message, fld", [
    ("empty.txt", b"", "empty file", None),
    ("blank.txt", b"  \n\t\n", "empty file", None),
    ("binary.txt", b"PK\x03\x04\x00\x00binary", "binary file", None),
    ("latin1.txt", "caf\u00e9 au lait".encode("latin-1"), "not valid UTF-8 (line 1", None),
    ("no_text.jsonl", b'{"id": "a", "text": "ok ."}\n{"id": "b"}\n', "line 2: missing key 'text'", "text"),
    ("text_not_str.jsonl", b'{"id": "a", "text": 3}\n', "must be a string", "text"),
    ("empty_text.jsonl", b'{"id": "a", "text": " "}\n', "empty text", "text"),
    ("bad_json.jsonl", b'{"id": "a", "text": "ok ."}\n{"id": \n', "line 2: invalid JSON", None),
    ("not_object.jsonl", b'["a", "b"]\n', "must be an object", None),
    ("dup.jsonl", b'{"id": "a", "text": "x ."}\n{"id": "a", "text": "y ."}\n', "id used by an earlier line", "id"),
    ("bad_id.jsonl", b'{"id": [1], "text": "x ."}\n', "string or an integer", "id"),
    ("empty.jsonl", b"\n\n", "no documents", None),
    ("binary.jsonl", b'{"id": "a", "text": "x \x00"}\n', "binary data", None),
    ("nul_escape.jsonl", b'{"id": "a", "text": "x \\u0000"}\n', "NUL character", "text"),
    ("doc.json", b"[]", "give a .txt file", None),
])
def test_bad_input_is_one_clear_error(tmp_path, name, content, message, fld):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError) as err:
        list(iter_text_inputs(path))
    assert message in str(err.value) and str(path) in str(err.value)
    assert err.value.field == fld


def test_missing_path_and_empty_directory(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        list(iter_text_inputs(tmp_path / "nope.txt"))
    with pytest.raises(DataError, match="without .txt files"):
        list(iter_text_inputs(tmp_path))


def test_write_records_leaves_nothing_when_the_records_fail(tmp_path):
    def records():
        yield {"a": 1}
        raise DataError(DataProblem("in.jsonl", "boom"))

    out = tmp_path / "out.json"
    with pytest.raises(DataError):
        write_records(out, records())
    assert not out.exists() and list(tmp_path.iterdir()) == []
    assert write_records(tmp_path / "ok.jsonl", iter([{"a": 1}, {"b": 2}])) == 2
    assert (tmp_path / "ok.jsonl").read_text().splitlines() == ['{"a": 1}', '{"b": 2}']
    write_records(tmp_path / "ok.json", iter([{"a": 1}]))
    assert json.loads((tmp_path / "ok.json").read_text()) == [{"a": 1}]
    write_records(tmp_path / "none.json", iter([]))
    assert json.loads((tmp_path / "none.json").read_text()) == []


# ---------------------------------------------------------------------------- command line
def test_cli_extract_then_inspect_and_evaluate(trained_joint, tmp_path, capsys, one_thread):
    d = tmp_path / "texts"
    d.mkdir()
    (d / "first.txt").write_text(TEXT, encoding="utf-8")
    (d / "second.txt").write_text("KPH has its headquarters in Caibraewick since 1986 .", encoding="utf-8")
    out = tmp_path / "extracted.json"
    args = ["--model", str(trained_joint.model_dir), "--device", "cpu", "--quiet"]
    assert main(["extract", *args, "--text", str(d), "--out", str(out)]) == 0
    recs = json.loads(out.read_text(encoding="utf-8"))
    assert [r["id"] for r in recs] == ["first", "second"]
    assert "2 documents" in capsys.readouterr().out
    for rec, name in zip(recs, ("first.txt", "second.txt")):
        _check_record(rec, (d / name).read_text(encoding="utf-8"))

    # docre inspect opens the output: the page shows the predicted mentions and entities
    page = tmp_path / "page.json"
    assert main(["inspect", *args, "--data", str(out), "--out", str(page)]) == 0
    shown = json.loads(page.read_text())["documents"]
    for rec, doc in zip(recs, shown):
        assert [[m["text"] for m in e["mentions"]] for e in doc["entities"]] == \
            [[m["name"] for m in e] for e in rec["vertexSet"]]
        assert [e["type"] for e in doc["entities"]] == [e[0]["type"] for e in rec["vertexSet"]]
    html = tmp_path / "page.html"
    assert main(["inspect", *args, "--data", str(out), "--out", str(html)]) == 0
    assert recs[0]["vertexSet"][0][0]["name"] in html.read_text(encoding="utf-8")

    # evaluate --end-to-end: extracting from the gold text (--model) and scoring an extract output (--pred) agree
    gold = sample_path("dev.json")
    scores_model, scores_pred = tmp_path / "m.json", tmp_path / "p.json"
    extracted = tmp_path / "dev_extracted.jsonl"
    assert main(["evaluate", "--end-to-end", *args, "--gold", str(gold), "--out", str(scores_model),
                 "--extracted", str(extracted)]) == 0
    printed = capsys.readouterr().out
    assert "coreference: CEAF-e" in printed and "relations given gold entities" in printed
    assert "stage table" in printed and "given gold mentions + clusters" in printed
    assert sorted(json.loads(scores_model.read_text())["stages"]) == ["gold_clusters", "gold_entities", "gold_mentions"]
    assert main(["evaluate", "--end-to-end", *args, "--gold", str(gold), "--no-stages"]) == 0
    assert "stage table" not in capsys.readouterr().out
    assert main(["evaluate", "--end-to-end", "--pred", str(extracted), "--gold", str(gold), "--out",
                 str(scores_pred)]) == 0
    m, p = json.loads(scores_model.read_text()), json.loads(scores_pred.read_text())
    assert m["end_to_end"] == p["end_to_end"] and p["gold_entities"] is None and p["stages"] is None
    assert m["gold_entities"]["num_gold"] == sum(len(d.labels) for d in read_documents(gold))


@pytest.mark.parametrize("content, message", [
    (b"", "empty file"),
    (b"\x00\x01\x02\x03", "binary file"),
    (b"\xff\xfe bad", "not valid UTF-8"),
])
def test_cli_bad_input_exits_2_with_one_line_and_no_output(trained_joint, tmp_path, capsys, content, message):
    src = tmp_path / "in.txt"
    src.write_bytes(content)
    out = tmp_path / "out.json"
    code = main(["extract", "--model", str(trained_joint.model_dir), "--text", str(src), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("docre: error:")
    assert message in err[0] and str(src) in err[0]
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["in.txt"]


def test_cli_evaluate_end_to_end_argument_errors(trained_joint, tmp_path, capsys):
    gold = str(sample_path("dev.json"))
    assert main(["evaluate", "--gold", gold]) == 2
    assert "needs --pred" in capsys.readouterr().err
    assert main(["evaluate", "--end-to-end", "--gold", gold]) == 2
    assert "either --model" in capsys.readouterr().err
    bad = tmp_path / "wrong_text.json"
    bad.write_text(json.dumps([{"title": read_documents(gold)[0].title, "text": "another text", "sents": [["x"]],
                                "vertexSet": [], "relations": []}]))
    assert main(["evaluate", "--end-to-end", "--pred", str(bad), "--gold", gold]) == 2
    assert "not the gold document's" in capsys.readouterr().err


def test_cli_extract_with_a_relation_model_says_what_to_train(tmp_path, tiny_encoder_dir, capsys):
    from docre.config import load_config
    from docre.data.relations import RelationInventory
    from docre.models.model import DocREModel, load_tokenizer

    cfg = load_config(overrides={"model.encoder": str(tiny_encoder_dir), "model.emb_size": 32, "model.block_size": 8})
    tok = load_tokenizer(str(tiny_encoder_dir))
    DocREModel.build(cfg, RelationInventory.from_relations(["P17"]), tok).save(tmp_path / "rel", tok)
    (tmp_path / "a.txt").write_text("Some text .")
    assert main(["extract", "--model", str(tmp_path / "rel"), "--text", str(tmp_path / "a.txt"), "--out",
                 str(tmp_path / "o.json"), "--quiet"]) == 2
    assert "model.task end_to_end" in capsys.readouterr().err and not (tmp_path / "o.json").exists()


def test_texts_of_similar_length_are_batched_together_and_come_back_in_input_order(trained_joint, one_thread):
    """extract_records sorts each chunk by length for batching; records keep the input order and
    positions, and each equals the record of its text extracted alone."""

    texts = ["Glyawu is a town in Jetharnand . " * n for n in (5, 1, 3, 1, 4, 2, 6)]
    items = [(f"t{i}", t) for i, t in enumerate(texts)]
    recs = list(extract_records(trained_joint.model, trained_joint.tokenizer, items, batch_size=2, chunk_size=4))
    assert [r["id"] for r in recs] == [f"t{i}" for i in range(7)]
    assert [r["index"] for r in recs] == list(range(7))
    for i, r in enumerate(recs):
        (alone,) = extract_chunk(trained_joint.model, trained_joint.tokenizer, [items[i]], start_index=i)
        assert r["vertexSet"] == alone["vertexSet"] or \
            [[m["pos"] for m in e] for e in r["vertexSet"]] == [[m["pos"] for m in e] for e in alone["vertexSet"]]
        assert [(t["h"], t["t"], t["r"]) for t in r["relations"]] == [(t["h"], t["t"], t["r"]) for t in alone["relations"]]
