"""The inspect page in headless Chromium: selecting a triple marks exactly its key mentions.

Two drivers:

- ``chromium --dump-dom`` on ``page.html#triple=<doc>:<h>:<r>:<t>`` (the page selects the
  triple named by its URL fragment on load) and ``--screenshot``: needs only the browser.
- Selenium with ``chromedriver`` clicks through the page (documents, triples, sorting,
  filters); it needs the ``selenium`` package as well.

Skipped only when no Chromium binary exists (``apt-get install chromium chromium-driver``;
``DOCRE_CHROMIUM`` names another binary). The screenshot goes to ``$DOCRE_SCREENSHOT``
when set (e.g. for the README), else into the test's temporary directory.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Optional

import pytest

from docre.data.reader import read_documents
from docre.inspect.attribution import aggregate, explain_documents
from docre.inspect.report import render_html
from test_attribution import DOCS_PATH, trained_model
from test_report import parse

pytestmark = pytest.mark.browser

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
                  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars")
WINDOW = (1500, 950)


def find_chromium() -> Optional[str]:
    env = os.environ.get("DOCRE_CHROMIUM")
    if env:
        return env if Path(env).exists() else shutil.which(env)
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium binary (apt-get install chromium "
                                                              "chromium-driver, or set DOCRE_CHROMIUM)")


def run_chromium(url: str, *args: str, timeout: int = 120) -> str:
    """Run headless Chromium once with a fresh profile; returns stdout."""
    with tempfile.TemporaryDirectory(prefix="docre-chromium-") as profile:
        cmd = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
               "--virtual-time-budget=5000", *args, url]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def mention_classes(dom: str) -> dict[str, set[str]]:
    """data-mention -> class names of every mention span in the document text."""
    return {a["data-mention"]: set(a.get("class", "").split()) for tag, a in parse(dom).tags
            if tag == "span" and "data-mention" in a}


def expected_key_mentions(triple: dict[str, Any]) -> set[str]:
    return {f"{m['entity']}-{m['mention']}" for p in triple["mention_pairs"] if p["key"]
            for m in (p["head"], p["tail"]) if m["mention"] >= 0}


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory, tiny_encoder_dir: Path) -> list[dict[str, Any]]:
    model, tok, _ = trained_model(tmp_path_factory, tiny_encoder_dir, "kmgre")
    return explain_documents(model, tok, read_documents(DOCS_PATH))


@pytest.fixture(scope="module")
def page(records: list, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("inspect_page") / "inspect.html"
    path.write_text(render_html(records, aggregate(records), meta={"model": "tiny KMGRE (tests)"}), encoding="utf-8")
    return path


def pick_triple(records: list, several: bool = True) -> tuple[dict[str, Any], dict[str, Any]]:
    """A triple whose key set has several pairs (else any), as (record, triple)."""
    cands = [(r, t) for r in records for t in r["triples"]]
    assert cands
    multi = [(r, t) for r, t in cands if t["num_key_pairs"] > 1 and t["predicted"]]
    return (multi or cands)[0] if several else cands[-1]


def fragment(rec: dict[str, Any], t: dict[str, Any]) -> str:
    return f"triple={rec['doc_index']}:{t['h']}:{t['r']}:{t['t']}"


@needs_chromium
def test_fragment_preselects_a_triple_and_marks_exactly_its_key_mentions(records: list, page: Path) -> None:
    for rec, t in (pick_triple(records), pick_triple(records, several=False)):
        dom = run_chromium(page.as_uri() + "#" + fragment(rec, t), "--dump-dom")
        tags = parse(dom).tags
        body = next(a for tag, a in tags if tag == "body")
        assert body.get("data-ready") == "1", "the page script did not finish"
        assert body.get("data-selected-triple") == fragment(rec, t).split("=", 1)[1]
        classes = mention_classes(dom)
        expected = expected_key_mentions(t)
        assert expected and {m for m, c in classes.items() if "key" in c} == expected
        assert set(classes) == {f"{e['index']}-{m['mention']}" for e in rec["entities"] for m in e["mentions"]}
        for role, e in (("sel-head", t["h"]), ("sel-tail", t["t"])):
            assert {m for m, c in classes.items() if role in c} == {m for m in classes if m.split("-")[0] == str(e)}
        selected_rows = [a["data-triple"] for tag, a in tags
                         if tag == "tr" and "selected" in a.get("class", "").split()]
        assert selected_rows == [f"{t['h']}:{t['r']}:{t['t']}"]
        links = [a for tag, a in tags if tag == "path" and "link" in a.get("class", "")]
        assert len(links) == t["num_key_pairs"]
        detail = next(a for tag, a in tags if a.get("id") == "detail")
        assert detail.get("data-triple") == f"{t['h']}:{t['r']}:{t['t']}"


@needs_chromium
def test_screenshot(records: list, page: Path, tmp_path: Path) -> None:
    """Writes a PNG of the page with a triple selected (``DOCRE_SCREENSHOT=docs/inspect.png`` to keep it)."""
    rec, t = pick_triple(records)
    out = Path(os.environ.get("DOCRE_SCREENSHOT") or tmp_path / "inspect.png").resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    run_chromium(page.as_uri() + "#" + fragment(rec, t), f"--screenshot={out}")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


# ------------------------------------------------------------------------------ clicking (selenium)
@pytest.fixture(scope="module")
def driver() -> Any:
    if CHROMIUM is None:
        pytest.skip("no Chromium binary (apt-get install chromium chromium-driver, or set DOCRE_CHROMIUM)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium)")
    from selenium.webdriver.chrome.service import Service

    chromedriver = os.environ.get("DOCRE_CHROMEDRIVER") or shutil.which("chromedriver")
    if chromedriver is None:
        pytest.skip("no chromedriver (apt-get install chromium-driver)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="docre-chromium-")
    for flag in CHROMIUM_FLAGS:
        opts.add_argument(flag.replace("--headless", "--headless=new"))
    opts.add_argument(f"--user-data-dir={profile}")
    opts.add_argument(f"--window-size={WINDOW[0]},{WINDOW[1]}")
    drv = webdriver.Chrome(service=Service(executable_path=chromedriver), options=opts)
    try:
        yield drv
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)


def css(drv: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return drv.find_elements(By.CSS_SELECTOR, selector)


def key_mentions_in_page(drv: Any) -> set[str]:
    return {e.get_attribute("data-mention") for e in css(drv, "#doc-text .mention.key")}


@needs_chromium
def test_clicking_documents_and_triples(driver: Any, records: list, page: Path) -> None:
    driver.get(page.as_uri())
    assert css(driver, "body[data-ready='1']")
    assert len(css(driver, "#doc-list .doc-item")) == len(records)
    assert not key_mentions_in_page(driver)  # nothing selected yet

    seen, last = 0, None
    for rec in records:
        if not rec["triples"]:
            continue
        css(driver, f"#doc-list .doc-item[data-doc='{rec['doc_index']}']")[0].click()
        assert css(driver, f"#doc-list .doc-item.selected[data-doc='{rec['doc_index']}']")
        assert len(css(driver, "#triples tr.triple")) == len(rec["triples"])
        for t in rec["triples"]:
            key = f"{t['h']}:{t['r']}:{t['t']}"
            css(driver, f"#triples tr.triple[data-triple='{key}']")[0].click()
            assert key_mentions_in_page(driver) == expected_key_mentions(t)
            assert driver.execute_script("return location.hash") == f"#triple={rec['doc_index']}:{key}"
            assert css(driver, "#detail")[0].get_attribute("data-triple") == key
            assert len(css(driver, "#detail tr.pair")) == len(t["mention_pairs"])
            assert len(css(driver, "#pair-links path.link")) == t["num_key_pairs"]
            seen += 1
            last = t
    assert seen == sum(len(r["triples"]) for r in records)

    # reload on the fragment the page wrote: the same triple comes back selected
    href = driver.execute_script("return location.href")
    driver.get("about:blank")
    driver.get(href)
    assert key_mentions_in_page(driver) == expected_key_mentions(last)


@needs_chromium
def test_sorting_and_filtering_the_triple_table(driver: Any, records: list, page: Path) -> None:
    from selenium.webdriver.support.ui import Select

    rec = max(records, key=lambda r: len(r["triples"]))
    driver.get(page.as_uri() + f"#doc={rec['doc_index']}")

    def order() -> list[str]:
        return [r.get_attribute("data-triple") for r in css(driver, "#triples tbody tr.triple")]

    margins = {f"{t['h']}:{t['r']}:{t['t']}": t["margin"] for t in rec["triples"]}
    by_margin = [margins[k] for k in order()]
    assert by_margin == sorted(by_margin, reverse=True)  # default: highest margin first
    header = css(driver, "#triples th[data-sort='margin']")[0]
    header.click()
    assert header.get_attribute("aria-sort") == "ascending"
    assert [margins[k] for k in order()] == sorted(by_margin)
    css(driver, "#triples th[data-sort='head']")[0].click()
    heads = {f"{t['h']}:{t['r']}:{t['t']}": t["head"].lower() for t in rec["triples"]}
    names = [heads[k] for k in order()]
    assert names == sorted(names)

    statuses = {t["status"] for t in rec["triples"]}
    for status in statuses:
        Select(css(driver, "#status-filter")[0]).select_by_value(status)
        rows = css(driver, "#triples tbody tr.triple")
        assert rows and all(r.get_attribute("data-status") == status for r in rows)
        assert len(rows) == sum(t["status"] == status for t in rec["triples"])
    Select(css(driver, "#status-filter")[0]).select_by_value("")
    rel = rec["triples"][0]["r"]
    Select(css(driver, "#relation-filter")[0]).select_by_value(rel)
    rows = css(driver, "#triples tbody tr.triple")
    assert len(rows) == sum(t["r"] == rel for t in rec["triples"])
    assert all(r.get_attribute("data-triple").split(":")[1] == rel for r in rows)

    search = css(driver, "#doc-search")[0]
    search.send_keys(records[1]["title"][:6])
    titles = [e.text for e in css(driver, "#doc-list .doc-item .doc-title")]
    assert titles == [r["title"] for r in records if r["title"].lower().startswith(records[1]["title"][:6].lower())]


@needs_chromium
def test_atlop_page_shades_context_words(driver: Any, tmp_path_factory: pytest.TempPathFactory,
                                         tiny_encoder_dir: Path, tmp_path: Path) -> None:
    model, tok, _ = trained_model(tmp_path_factory, tiny_encoder_dir, "atlop")
    recs = explain_documents(model, tok, read_documents(DOCS_PATH), top_k=3)
    path = tmp_path / "atlop.html"
    path.write_text(render_html(recs, aggregate(recs)), encoding="utf-8")
    rec = next(r for r in recs if r["triples"])
    t = rec["triples"][0]
    driver.get(path.as_uri() + "#" + fragment(rec, t))
    words = {e.get_attribute("data-word") for e in css(driver, "#doc-text .w.ctx")}
    assert words == {str(c["word"]) for c in t["context_tokens"]}
    assert not key_mentions_in_page(driver)
    assert len(css(driver, "#context-table tr.ctx-word")) == len(t["context_tokens"]) == 3


@needs_chromium
def test_warm_up_kmgre_page_says_so_and_small_context_weights_stay_readable(records: list, tmp_path: Path) -> None:
    """A KMGRE model still in its warm-up is not called ATLOP; a 0.041% context weight is not shown as 0.0%."""
    import copy

    recs = copy.deepcopy(records)
    for r in recs:  # what explain_documents writes for a KMGRE model before its EM phase
        r["attribution"] = "context"
        for t in r["triples"]:
            t["context_tokens"] = [{"word": 0, "sent_id": 0, "pos": 0, "text": r["sents"][0][0], "weight": 0.027},
                                   {"word": 1, "sent_id": 0, "pos": 1, "text": r["sents"][0][1], "weight": 0.00041}]
    path = tmp_path / "warm-up.html"
    path.write_text(render_html(recs, aggregate(recs)), encoding="utf-8")
    rec, t = pick_triple(recs, several=False)
    dom = run_chromium(path.as_uri() + "#" + fragment(rec, t), "--dump-dom")
    import re

    notes = re.findall(r'id="attribution-note"[^>]*>([^<]*)<', dom)  # the side panel's text as rendered
    assert len(notes) == 1 and "key-pair path was not trained yet" in notes[0] and "ATLOP" not in notes[0]
    assert ">2.7%<" in dom and ">0.041%<" in dom and ">0.0%<" not in dom
