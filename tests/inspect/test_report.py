"""The HTML page (self-contained, safe embedding) and ``docre inspect`` end to end."""
from __future__ import annotations

import copy
import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from docre.cli import main
from docre.data.reader import read_documents
from docre.errors import DocreError
from docre.inspect.attribution import SCHEMA_VERSION, aggregate, explain_documents, load_records
from docre.inspect.cli import output_format, select_documents
from docre.inspect.report import embed_json, render_html
from test_attribution import DOCS_PATH, trained_model


class Elements(HTMLParser):
    """Every start tag's attributes, and the text of ``<script>`` elements."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.scripts: list[tuple[dict[str, str], str]] = []
        self._script: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.append((tag, a))
        if tag == "script":
            self._script = a
            self.scripts.append((a, ""))

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            a, text = self.scripts[-1]
            self.scripts[-1] = (a, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None


def parse(page: str) -> Elements:
    p = Elements()
    p.feed(page)
    return p


def embedded_data(page: str) -> dict[str, Any]:
    scripts = [text for a, text in parse(page).scripts if a.get("type") == "application/json"]
    assert len(scripts) == 1
    return json.loads(scripts[0])


@pytest.fixture(scope="module")
def kmgre(tmp_path_factory: pytest.TempPathFactory, tiny_encoder_dir: Path) -> tuple[Any, Any, Path]:
    return trained_model(tmp_path_factory, tiny_encoder_dir, "kmgre")


@pytest.fixture(scope="module")
def records(kmgre: tuple) -> list[dict[str, Any]]:
    model, tok, _ = kmgre
    return explain_documents(model, tok, read_documents(DOCS_PATH))


# ------------------------------------------------------------------------------ the page
def test_page_embeds_the_records_and_has_stable_hooks(records: list) -> None:
    agg = aggregate(records)
    page = render_html(records, agg, meta={"model": "m"})
    data = embedded_data(page)
    assert data["documents"] == records and data["aggregate"] == agg
    assert data["schema_version"] == SCHEMA_VERSION and data["meta"] == {"model": "m"}
    ids = {a["id"] for _, a in parse(page).tags if "id" in a}
    for needed in ("doc-list", "doc-search", "doc-text", "pair-links", "triples", "relation-filter", "status-filter",
                   "detail", "legend", "aggregate", "docre-data"):
        assert needed in ids
    sorts = {a["data-sort"] for t, a in parse(page).tags if t == "th" and "data-sort" in a}
    assert {"status", "head", "relation", "tail", "margin", "score", "logit", "keys", "pomega"} <= sorts
    assert "p_omega" in page and "Key pair" in page  # the legend explains both


def test_page_needs_no_network(records: list) -> None:
    page = render_html(records, aggregate(records))
    for tag, a in parse(page).tags:
        assert tag not in ("link", "iframe", "img", "object", "embed"), tag
        assert "src" not in a and not a.get("href", "").startswith(("http", "//")), (tag, a)
    urls = set(re.findall(r"https?://[^\s\"')]+", page))
    assert urls <= {"http://www.w3.org/2000/svg"}  # the SVG namespace is a name, not a fetch
    assert "@import" not in page and "url(" not in page


def test_document_text_cannot_break_out_of_the_data_tag(records: list) -> None:
    nasty = copy.deepcopy(records[0])
    evil = ["</script><script>alert(1)</script>", "<!--", "a&amp;b", "\u2028", "</SCRIPT >", "]]>"]
    nasty["sents"][0] = nasty["sents"][0] + evil
    nasty["title"] = "</script>title"
    page = render_html([nasty], aggregate([nasty]))
    assert "alert(1)</script>" not in page and "</script>title" not in page and "</SCRIPT" not in page
    assert page.count("</script>") == 2  # the data tag and the code tag, nothing else
    assert "<!--" not in page and "\u2028" not in page
    data = embedded_data(page)
    assert data["documents"][0]["sents"][0][-len(evil):] == evil
    assert data["documents"][0]["title"] == "</script>title"


def test_embed_json_round_trips_every_character() -> None:
    obj = {"s": "<>&\u2028\u2029'\"\\/</script>", "n": [1, 2.5, None, True]}
    text = embed_json(obj)
    assert not set("<>&\u2028\u2029") & set(text)
    assert json.loads(text) == obj
    with pytest.raises(ValueError):
        embed_json({"x": float("nan")})


def test_empty_record_list_renders() -> None:
    page = render_html([], aggregate([]))
    assert embedded_data(page)["documents"] == []


# ------------------------------------------------------------------------------ docre inspect
def run_cli(capsys: pytest.CaptureFixture, model_dir: Path, out: Path, *extra: str) -> tuple[int, str, str]:
    code = main(["inspect", "--model", str(model_dir), "--data", str(DOCS_PATH), "--out", str(out), "--quiet",
                 "--device", "cpu", *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_writes_json_records(kmgre: tuple, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _, _, model_dir = kmgre
    out = tmp_path / "sub" / "records.json"
    code, stdout, _ = run_cli(capsys, model_dir, out, "--top-k", "2")
    assert code == 0
    obj = json.loads(out.read_text())
    assert obj["schema_version"] == SCHEMA_VERSION and obj["meta"]["head"] == "kmgre"
    recs = load_records(out)
    assert [r["title"] for r in recs] == [d.title for d in read_documents(DOCS_PATH)]
    assert all(r["filters"]["top_k"] == 2 for r in recs)
    assert obj["aggregate"] == aggregate(recs)
    assert "predicted triples" in stdout and "key sets of" in stdout and str(out) in stdout
    assert not list(out.parent.glob(".*.tmp"))  # written atomically, no temporary left over


def test_cli_writes_html_for_chosen_documents(kmgre: tuple, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _, _, model_dir = kmgre
    out = tmp_path / "page.HTML"
    code, stdout, _ = run_cli(capsys, model_dir, out, "--doc", "Brightwater Mills", "0", "--only", "tp")
    assert code == 0
    data = embedded_data(out.read_text(encoding="utf-8"))
    assert [d["title"] for d in data["documents"]] == ["Brightwater Mills", "Marel Tovik"]
    assert all(t["status"] == "tp" for d in data["documents"] for t in d["triples"])
    assert "2 documents" in stdout


@pytest.mark.parametrize("extra, message", [
    (("--doc", "No Such Title", "7"), "'No Such Title', '7'"),
    (("--relation", "P9999"), "P9999"),
])
def test_cli_user_errors_exit_2(kmgre: tuple, tmp_path: Path, capsys: pytest.CaptureFixture, extra: tuple,
                                message: str) -> None:
    _, _, model_dir = kmgre
    out = tmp_path / "x.json"
    code, _, err = run_cli(capsys, model_dir, out, *extra)
    assert code == 2 and message in err and err.startswith("docre: error:")
    assert not out.exists()


def test_cli_rejects_other_extensions_before_loading(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "records.csv"
    code, _, err = run_cli(capsys, tmp_path / "no-model-here", out)
    assert code == 2 and ".csv" in err and not out.exists()


def test_select_documents_by_title_then_index() -> None:
    docs = read_documents(DOCS_PATH)
    assert select_documents(docs, None) == docs and select_documents(docs, []) == docs
    assert [d.title for d in select_documents(docs, ["2", "Marel Tovik", "0"])] == ["Lone entity", "Marel Tovik"]
    with pytest.raises(DocreError, match="'-1'"):
        select_documents(docs, ["-1"])
    assert output_format("a/b.Json") == ".json"
    with pytest.raises(DocreError, match="extension"):
        output_format("a/b")


def test_inspect_scores_and_names_triples_as_predict_does(kmgre: tuple, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    """One meaning per field: score = sigmoid(l_r - l_TH), head / tail the entity names, in both outputs."""
    _, _, model_dir = kmgre
    out, preds = tmp_path / "records.json", tmp_path / "preds.json"
    assert run_cli(capsys, model_dir, out)[0] == 0
    assert main(["predict", "--model", str(model_dir), "--data", str(DOCS_PATH), "--out", str(preds), "--quiet",
                 "--device", "cpu"]) == 0
    predicted = {(d["title"], r["h"], r["t"], r["r"]): r for d in json.loads(preds.read_text()) for r in d["relations"]}
    inspected = {(rec["title"], t["h"], t["t"], t["r"]): t for rec in load_records(out) for t in rec["triples"]}
    assert predicted and set(predicted) == {k for k, t in inspected.items() if t["predicted"]}
    for key, p in predicted.items():
        t = inspected[key]
        assert t["score"] == pytest.approx(p["score"], abs=2e-6)
        assert (t["head"], t["tail"], t["head_type"], t["tail_type"], t["relation"]) == \
            (p["head"], p["tail"], p["head_type"], p["tail_type"], p["relation"])
    for t in inspected.values():  # missed triples too: the score is the margin through a sigmoid
        assert t["score"] == pytest.approx(1 / (1 + math.exp(-t["margin"])), abs=2e-6)
        assert "head_name" not in t and "tail_name" not in t


def test_gold_relation_the_model_does_not_know_exits_2(kmgre: tuple, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    _, _, model_dir = kmgre
    raw = json.loads(DOCS_PATH.read_text())
    raw[1]["labels"][1]["r"] = "P9999"
    data, out = tmp_path / "gold.json", tmp_path / "page.html"
    data.write_text(json.dumps(raw))
    code = main(["inspect", "--model", str(model_dir), "--data", str(data), "--out", str(out), "--quiet",
                 "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"docre: error: {data}, document 1, title 'Brightwater Mills', "
                                        "field labels[1].r: relation 'P9999' is not one the model knows")
    assert not out.exists() and list(tmp_path.iterdir()) == [data]
