"""data_prep.convert_dwie on hand-written DWIE-like articles (tests/fixtures/dwie) and, with
DOCRE_DATA_DIR, on DWIE's training archive against the standard conversion's dev.json."""
from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import pytest

from data_prep import convert_dwie
from data_prep.convert_dwie import convert_dwie as convert
from docre.data.reader import read_documents
from docre.errors import DataError, DocreError

ANNOS = Path(__file__).parent.parent / "fixtures" / "dwie" / "annos_with_content"

DW_100_WORDS = [
    "Ada", "Perrin", "Joins", "Brightwater", "\n", "The", "31-year", "-", "old", "Ada", "Perrin", "left", "Lunden",
    "for", "Brightwater", "Mills", "on", "Monday", ".", "Perrin", "\u2019s", "e", "-", "mail", "said", "she", "is", "a",
    "Kelmarian", "citizen", ".", "\n", "Perrin", "said", "the", "mill", "is", "based", "in", "Lunden", "since",
    "1990", ".",
]


def _m(name: str, pos: tuple[int, int], typ: str, char: tuple[int, int], link=None, candidates=()) -> dict:
    return {"name": name, "pos": list(pos), "sent_id": 0, "type": typ, "char_span": list(char), "link": link,
            "candidates": [list(c) for c in candidates]}


PERRIN = (("Perrin_(surname)", 0.6), ("Ada_Perrin", 0.4))
LUNDEN = (("Lunden", 0.75), ("Lunden_(band)", 0.25))


def _by_title(docs: list[dict]) -> dict[str, dict]:
    return {d["title"]: d for d in docs}


def test_whole_article_is_one_sentence_of_spacy2_tokens():
    docs, _, _ = convert(ANNOS, "all")
    doc = _by_title(docs)["DW_100"]
    # one sentence; line breaks are words; a hyphen splits letters only (31-year-old -> 31-year - old)
    assert doc["sents"] == [DW_100_WORDS]
    assert doc["text"].startswith("Ada Perrin Joins Brightwater\nThe 31-year-old")


def test_entities_mentions_types_and_labels_follow_the_standard_rules():
    docs, _, report = convert(ANNOS, "all")
    doc = _by_title(docs)["DW_100"]
    per, org, loc, time_, other = "type::person", "type::organization", "type::location", "type::time", "type::other"
    assert doc["vertexSet"] == [
        # concept 0: every mention in the mention list's order
        # links: the concept's Wikipedia title on every mention; candidates: DWIE's candidates with their scores
        [_m("Ada Perrin", (0, 2), per, (0, 10), "Ada_Perrin"), _m("Ada Perrin", (9, 11), per, (45, 55), "Ada_Perrin"),
         _m("Perrin", (19, 20), per, (101, 107), "Ada_Perrin", PERRIN),
         _m("Perrin", (32, 33), per, (150, 156), "Ada_Perrin", PERRIN)],
        [_m("Brightwater", (3, 4), org, (17, 28)), _m("Brightwater Mills", (14, 16), org, (72, 89))],
        [_m("Lunden", (12, 13), loc, (61, 67), "Lunden", LUNDEN), _m("Lunden", (39, 40), loc, (183, 189), "Lunden", LUNDEN)],
        [_m("Monday", (17, 18), time_, (93, 99))],
        [_m("Kelmarian", (28, 29), other, (131, 140))],  # tags gpe0-x and other: the coarse one
        [_m("Kelmar", (28, 29), loc, (131, 137))],  # inside the token "Kelmarian": the whole token
        # concept 6 is tagged type::language only: it inherits the previous mention's type (Perrin's)
        [_m("e-mail", (21, 24), per, (110, 116))],
        # concept 7 (Oslo) has no mention: no entity, and its relation is dropped
        [_m("1990", (41, 42), time_, (196, 200))],
    ]
    assert doc["labels"] == [
        {"r": "citizen_of", "h": 0, "t": 5, "evidence": [0]},
        {"r": "citizen_of-x", "h": 0, "t": 4, "evidence": [0]},
        {"r": "gpe0", "h": 4, "t": 5, "evidence": [0]},
        {"r": "based_in2", "h": 1, "t": 2, "evidence": [0]},
        {"r": "based_in2", "h": 1, "t": 2, "evidence": [0]},  # a duplicate stays, as in the standard files
        {"r": "in0", "h": 2, "t": 5, "evidence": [0]},
    ]  # agent_of to Oslo (no mention) and agent_of Ada -> Ada (same entity) are dropped
    for e in doc["vertexSet"]:
        for m in e:
            b, end = m["char_span"]
            assert doc["text"][b:end] == m["name"]
    assert (report.relations_without_mentions, report.self_relations) == (1, 1)
    assert report.expanded_mentions == 1 and report.skipped_no_mentions == ["DW_150"]
    assert (report.documents, report.entities, report.mentions, report.facts) == (2, 11, 17, 7)


def test_untyped_concept_inherits_across_articles_in_file_name_order():
    # DW_200's first mentions belong to a concept without a coarse type: they take the type of
    # DW_100's last mention (1990, type::time) even when only the test split is converted
    docs, _, _ = convert(ANNOS, "test")
    assert [d["title"] for d in docs] == ["DW_200"]
    assert [m["type"] for m in docs[0]["vertexSet"][0]] == ["type::time", "type::time"]
    docs, _, _ = convert(ANNOS, "all", untyped="blank")
    d = _by_title(docs)
    assert [m["type"] for m in d["DW_200"]["vertexSet"][0]] == ["type::blank", "type::blank"]
    assert d["DW_100"]["vertexSet"][6][0]["type"] == "type::blank"
    assert d["DW_100"]["vertexSet"][0][0]["type"] == "type::person"


def test_splits_titles_and_skipped_articles():
    docs, _, report = convert(ANNOS, "train")
    assert [d["title"] for d in docs] == ["DW_100"] and report.skipped_no_mentions == ["DW_150"]
    assert report.selected == 2 and report.articles == 3
    docs, _, report = convert(ANNOS, "all", exclude_titles={"DW_100"})
    assert [d["title"] for d in docs] == ["DW_200"] and report.excluded_by_title == 1
    docs, _, _ = convert(ANNOS, "all", include_titles={"DW_200", "DW_999"})
    assert [d["title"] for d in docs] == ["DW_200"]
    with pytest.raises(DocreError, match="no article selected"):
        convert(ANNOS, "test", exclude_titles={"DW_200"})


def test_relation_ids_in_order_of_first_kept_appearance():
    _, rel2id, _ = convert(ANNOS, "test")  # the same for every split: all articles read count
    assert rel2id == {"Na": 0, "citizen_of": 1, "citizen_of-x": 2, "gpe0": 3, "based_in2": 4, "in0": 5}


def test_archive_gives_the_same_documents(tmp_path: Path):
    archive = tmp_path / "annos.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for p in sorted(ANNOS.iterdir(), reverse=True):  # archive order does not matter
            tar.add(p, arcname=f"annos_with_content/{p.name}")
    assert convert(archive, "all")[0] == convert(ANNOS, "all")[0]


def test_titles_file_formats(tmp_path: Path):
    (tmp_path / "t.txt").write_text("DW_100\n\nDW_200\n")
    (tmp_path / "l.json").write_text('["DW_100"]')
    (tmp_path / "d.json").write_text(json.dumps([{"title": "DW_200", "sents": [["x"]], "vertexSet": []}]))
    assert convert_dwie.read_titles(tmp_path / "t.txt") == {"DW_100", "DW_200"}
    assert convert_dwie.read_titles(tmp_path / "l.json") == {"DW_100"}
    assert convert_dwie.read_titles(tmp_path / "d.json") == {"DW_200"}


def test_command_writes_documents_the_reader_accepts_and_rel2id(tmp_path: Path, capsys):
    out, rel = tmp_path / "train.json", tmp_path / "rel2id.json"
    (tmp_path / "dev.json").write_text(json.dumps(["DW_200"]))
    code = convert_dwie.main(["--annos", str(ANNOS), "--split", "all", "--exclude-titles", str(tmp_path / "dev.json"),
                              "--out", str(out), "--rel2id", str(rel)])
    assert code == 0
    docs = read_documents(out)
    assert [d.title for d in docs] == ["DW_100"] and len(docs[0].labels) == 6
    assert docs[0].entities[5].mentions[0].char_span == (131, 137)
    assert json.loads(rel.read_text())["in0"] == 5
    assert "1 skipped without mentions (DW_150)" in capsys.readouterr().out


def _broken(tmp_path: Path, edit) -> Path:
    d = tmp_path / "annos_with_content"
    shutil.copytree(ANNOS, d)
    art = json.loads((d / "DW_100.json").read_text())
    edit(art)
    (d / "DW_100.json").write_text(json.dumps(art))
    return d


@pytest.mark.parametrize("edit, field, fragment", [
    (lambda a: a["mentions"][3].update(text="London"), "mentions[3].text", "does not match the text"),
    (lambda a: a["mentions"][0].update(end=10_000), "mentions[0].begin", "outside the text"),
    (lambda a: a["mentions"][2].update(concept=42), "mentions[2].concept", "unknown concept 42"),
    (lambda a: a["relations"].append({"s": 0, "p": "in0", "o": 99}), "relations[8].o", "unknown concept 99"),
    (lambda a: a.pop("content"), "content", "missing key 'content'"),
    (lambda a: a["mentions"][2].update(scores=[0.5]), "mentions[2].scores", "1 scores for 0 candidates"),
    (lambda a: a["mentions"][2].update(candidates=[3, 4]), "mentions[2].candidates", "list of Wikipedia titles"),
    (lambda a: a["concepts"][2].update(link=7), "concepts[2].link", "a Wikipedia title or null"),
])
def test_bad_article_names_file_article_and_field(tmp_path: Path, edit, field: str, fragment: str):
    annos = _broken(tmp_path, edit)
    with pytest.raises(DataError) as err:
        convert(annos, "all")
    e = err.value
    assert e.file.endswith("DW_100.json") and e.doc_index == 0 and e.title == "DW_100" and e.field == field
    assert fragment in str(e)


def test_command_fails_cleanly_without_output(tmp_path: Path, capsys):
    annos = tmp_path / "annos_with_content"
    annos.mkdir()
    (annos / "DW_1.json").write_text('{"id": "DW_1", "content": ')
    out = tmp_path / "out.json"
    assert convert_dwie.main(["--annos", str(annos), "--split", "all", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "DW_1.json" in err and "invalid JSON" in err and not out.exists()
    assert convert_dwie.main(["--annos", str(tmp_path / "missing"), "--split", "all", "--out", str(out)]) == 2
    assert "no such file or directory" in capsys.readouterr().err and not out.exists()


# --- real data ------------------------------------------------------------------------


def _mentions_without_char_span(doc: dict) -> list[list[dict]]:
    extra = ("char_span", "link", "candidates")  # beyond the standard conversion
    return [[{k: v for k, v in m.items() if k not in extra} for m in e] for e in doc["vertexSet"]]


def test_dwie_train_archive_reproduces_the_standard_dev_conversion(data_dir: Path):
    archive = data_dir / "dwie" / "annos_with_content_train.tar.gz"
    dev_path = data_dir / "dwie" / "dev.json"
    if not archive.is_file() or not dev_path.is_file():
        pytest.skip(f"{archive} or {dev_path} not found")
    dev = json.loads(dev_path.read_text(encoding="utf-8"))
    docs, rel2id, report = convert(archive, "train")
    ours = _by_title(docs)
    assert report.articles == 702 and report.skipped_no_mentions == ["DW_19492126", "DW_38763222"]
    assert len(docs) == 700 and len([t for t in ours if t not in {d["title"] for d in dev}]) == 602
    identical = [d["title"] for d in dev
                 if ours[d["title"]]["sents"] == d["sents"] and ours[d["title"]]["labels"] == d["labels"]
                 and _mentions_without_char_span(ours[d["title"]]) == d["vertexSet"]]
    assert len(identical) == 98
    standard = json.loads((data_dir / "dwie" / "rel2id.json").read_text())
    assert list(rel2id)[:48] == list(standard)[:48]  # the rest depends on the test articles' relations
    assert set(rel2id) <= set(standard)
