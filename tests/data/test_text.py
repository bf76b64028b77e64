"""Plain text into sentences and words with character offsets (docre.data.text)."""
from docre.data.reader import documents_from_json
from docre.data.text import tokenize_text

TEXT = "Mzoudi Verdict Postponed\nAl Qaeda is trying to kill Abdelghani Mzoudi.  He is in Germany.\n\nZürich, 2004"


def test_words_slice_the_text_exactly_and_lines_end_sentences():
    t = tokenize_text(TEXT)
    assert t.words == [["Mzoudi", "Verdict", "Postponed"],
                       ["Al", "Qaeda", "is", "trying", "to", "kill", "Abdelghani", "Mzoudi", "."],
                       ["He", "is", "in", "Germany", "."], ["Zürich", ",", "2004"]]
    for sent in t.sents:
        for w in sent:
            assert TEXT[w.start:w.end] == w.text
    assert t.char_span(1, 6, 8) == (TEXT.index("Abdelghani"), TEXT.index("Mzoudi.") + 6)


def test_without_newline_breaks_a_title_joins_the_next_sentence():
    t = tokenize_text(TEXT, newline_breaks=False)
    assert t.words[0][:4] == ["Mzoudi", "Verdict", "Postponed", "Al"]


def test_word_span_from_characters():
    t = tokenize_text(TEXT)
    b = TEXT.index("Al Qaeda")
    assert t.word_span(b, b + 8) == (1, 0, 2)
    assert t.word_span(b + 1, b + 4) == (1, 0, 2)  # partial words count when they overlap
    assert t.word_span(b - 1, b) is None  # only the line break
    g = TEXT.index("Germany")
    assert t.word_span(b, g + 3) is None  # across a sentence boundary
    assert t.word_span(len(TEXT) - 4, len(TEXT)) == (3, 2, 3)


def test_empty_and_blank_text_have_no_sentences():
    assert tokenize_text("").sents == []
    assert tokenize_text("  \n\t ").sents == []


def test_char_span_is_read_and_written_back():
    raw = [{"title": "a", "sents": [["Al", "Qaeda", "."]],
            "vertexSet": [[{"name": "Al Qaeda", "sent_id": 0, "pos": [0, 2], "type": "ORG", "char_span": [0, 8]}],
                          [{"name": ".", "sent_id": 0, "pos": [2, 3], "type": "X"}]]}]
    doc = documents_from_json(raw)[0]
    assert doc.entities[0].mentions[0].char_span == (0, 8)
    assert doc.to_json()["vertexSet"][0][0]["char_span"] == [0, 8]
    assert "char_span" not in doc.to_json()["vertexSet"][1][0]


def test_bad_char_span_names_the_field():
    import pytest
    from docre.errors import DataError

    raw = [{"title": "a", "sents": [["x", "y"]],
            "vertexSet": [[{"name": "x", "sent_id": 0, "pos": [0, 1], "char_span": [5, 2]}]]}]
    with pytest.raises(DataError) as err:
        documents_from_json(raw, source="f.json")
    assert err.value.field == "vertexSet[0][0].char_span" and "f.json" in str(err.value)
