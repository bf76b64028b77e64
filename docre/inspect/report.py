"""One self-contained HTML page over attribution records (``docre inspect --out x.html``).

No network: CSS and JavaScript are inline, and the records are embedded as JSON in a
``<script type="application/json" id="docre-data">`` tag (``<``, ``>``, ``&``, U+2028 and
U+2029 escaped as ``\\uXXXX``, so document text can never close the tag). The page builds
its DOM from that data with ``textContent`` only (no HTML is ever parsed from the data).

What a test (or a person) can rely on in the DOM:

- ``#doc-list > li.doc-item[data-doc=<doc_index>]`` (class ``selected`` on the open one);
  ``#doc-search`` filters by title, ``#doc-order`` orders the list.
- ``#doc-text``: ``span.sent[data-sent=<s>]``; every word ``span.w[data-word=<global word
  index>]``; every mention ``span.mention[data-mention="<entity>-<mention>"][data-entity=<e>]``.
  When a triple is selected: mentions of its head / tail entity get ``sel-head`` /
  ``sel-tail``; the mentions of its key pairs get ``key`` (and ``data-p-omega``, the
  highest p_omega of their key pairs, and ``data-pair``, the first key pair they are in);
  context words (ATLOP) get ``ctx``. ``svg#pair-links`` holds one ``path.link[data-pair=<n>]``
  per key pair.
- ``table#triples``: headers ``th[data-sort=<key>]`` sort on click (``aria-sort``);
  rows ``tr.triple[data-triple="<h>:<r>:<t>"][data-status=<tp|fp|fn|pred>]``; filters
  ``select#relation-filter`` and ``select#status-filter``.
- ``#detail[data-triple]``: the selected triple's record; ``tr.pair[data-pair=<n>]`` rows.
- ``body[data-selected-triple="<doc_index>:<h>:<r>:<t>"]`` once a triple is selected.
- URL fragment: ``#doc=<doc_index>`` opens a document, ``#triple=<doc_index>:<h>:<r>:<t>``
  opens it and selects the triple (clearing filters that would hide it). The page keeps
  the fragment in step with what is selected, so a link shows the same view.
- ``#aggregate`` (``[data-stat=...]`` cells) and ``#legend``.
"""
from __future__ import annotations

import io
import json
from typing import Any, Iterable, Optional, TextIO

from docre import __version__
from docre.inspect.attribution import SCHEMA_VERSION


def embed_json(obj: Any) -> str:
    """JSON safe to place inside ``<script type="application/json">``: no ``</script>``,
    no ``<!--``, no raw line/paragraph separators."""
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                    ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text


def render_html(records: Iterable[dict[str, Any]], aggregate: dict[str, Any],
                meta: Optional[dict[str, Any]] = None) -> str:
    """The page for ``records`` (from :func:`docre.inspect.attribution.explain_documents`)
    and their ``aggregate`` (:func:`docre.inspect.attribution.aggregate`)."""
    buf = io.StringIO()
    write_html(buf, records, aggregate, meta)
    return buf.getvalue()


def write_html(fh: TextIO, records: Iterable[dict[str, Any]], aggregate: dict[str, Any],
               meta: Optional[dict[str, Any]] = None) -> None:
    """Write the page of :func:`render_html` to ``fh``, one record at a time (the records are
    never all in memory: ``docre inspect`` on a large file streams them from disk)."""
    head = {"schema_version": SCHEMA_VERSION, "docre_version": __version__, "meta": meta or {},
            "aggregate": aggregate}
    page = _PAGE.replace("/*__STYLE__*/", _STYLE).replace("/*__SCRIPT__*/", _SCRIPT)
    before, after = page.split("__DATA__", 1)
    # the payload {head..., "documents": [records]} as embed_json would write it whole
    fh.write(before + embed_json(head)[:-1] + ',"documents":[')
    for i, rec in enumerate(records):
        fh.write(("," if i else "") + embed_json(rec))
    fh.write("]}" + after)


_STYLE = r"""
:root {
  --bg: #f5f6f8; --panel: #ffffff; --line: #e2e5ea; --text: #1f2328; --muted: #667085;
  --head: #2563eb; --tail: #059669; --key: 255, 176, 0; --tp: #15803d; --fp: #c2410c; --fn: #7c3aed;
  --sel: #eef4ff;
}
* { box-sizing: border-box; }
html, body { margin: 0; height: 100%; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: var(--text); background: var(--bg); }
header#top { display: flex; align-items: baseline; gap: 16px; padding: 10px 18px; background: #1f2937; color: #f9fafb; }
header#top h1 { font-size: 17px; margin: 0; font-weight: 600; letter-spacing: .2px; }
header#top #summary { color: #cbd5e1; font-size: 13px; }
header#top #meta { margin-left: auto; color: #94a3b8; font-size: 12px; white-space: nowrap; overflow: hidden;
                   text-overflow: ellipsis; max-width: 45%; }
#layout { display: grid; grid-template-columns: clamp(190px, 15vw, 260px) minmax(0, 1fr) clamp(400px, 33vw, 470px);
          gap: 12px; padding: 12px;
          height: calc(100vh - 44px); }
#layout > * { min-height: 0; overflow: auto; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px;
         margin-bottom: 12px; }
h2 .small { text-transform: none; letter-spacing: 0; font-weight: 400; }
h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .6px; color: var(--muted); margin: 0 0 8px; }
h3 { font-size: 15px; margin: 0 0 8px; }
.muted { color: var(--muted); }
.small { font-size: 12px; }
input[type=search], select { font: inherit; font-size: 13px; padding: 4px 6px; border: 1px solid var(--line);
                             border-radius: 6px; background: #fff; }
#doc-search { width: 100%; margin-bottom: 6px; }
.row { display: flex; gap: 6px; align-items: center; }
#doc-list { list-style: none; padding: 0; margin: 8px 0 0; }
.doc-item { display: grid; grid-template-columns: 1fr auto; gap: 0 6px; padding: 6px 8px; border-radius: 6px;
            cursor: pointer; border: 1px solid transparent; }
.doc-item:hover { background: #f3f4f6; }
.doc-item.selected { background: var(--sel); border-color: #c7d7fe; }
.doc-title { font-weight: 500; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.doc-f1 { font-size: 12px; font-variant-numeric: tabular-nums; padding: 0 6px; border-radius: 10px; align-self: center; }
.doc-counts { grid-column: 1 / 3; font-size: 11.5px; color: var(--muted); }
#doc-header { display: flex; align-items: baseline; gap: 12px; flex-wrap: wrap; }
#doc-header h3 { font-size: 17px; margin: 0; }
#doc-text-wrap { position: relative; margin-top: 10px; }
#doc-text { font-size: 15px; line-height: 2.35; position: relative; z-index: 1; }
svg#pair-links { position: absolute; left: 0; top: 0; pointer-events: none; z-index: 2; overflow: visible; }
.sent { }
.sid { font-size: 10px; color: #98a2b3; vertical-align: super; margin-right: 2px; user-select: none; }
.mention { background: var(--ent-bg); border-bottom: 2px solid var(--ent-fg); border-radius: 3px; padding: 1px 1px;
           transition: background .15s, opacity .15s; }
.mention .eid { font-size: 9.5px; color: var(--ent-fg); margin-left: 1px; font-weight: 600; }
.mention.unkept { border-bottom-style: dotted; }
#doc-text.has-selection .mention:not(.sel-head):not(.sel-tail) { background: transparent; border-bottom-color: #d0d5dd; }
#doc-text.has-selection .mention:not(.sel-head):not(.sel-tail) .eid { color: #98a2b3; }
.mention.sel-head { border-bottom: 3px solid var(--head); background: #eef2ff; }
.mention.sel-tail { border-bottom: 3px solid var(--tail); background: #ecfdf5; }
.mention.key { outline: 2px solid var(--pair, #444); outline-offset: 1px; }
.mention.hl, .mention.hover { box-shadow: 0 0 0 3px rgba(37, 99, 235, .35); }
.w.ctx { border-radius: 3px; }
#entity-legend { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 12px; padding-top: 10px; border-top: 1px solid var(--line); }
.chip { font-size: 12px; padding: 1px 8px; border-radius: 10px; background: var(--ent-bg); border: 1px solid var(--ent-fg); cursor: default; }
.toolbar { display: flex; gap: 8px; align-items: center; margin-bottom: 8px; flex-wrap: wrap; }
.toolbar .count { margin-left: auto; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th { text-align: left; font-weight: 600; color: var(--muted); font-size: 12px; border-bottom: 1px solid var(--line);
     padding: 5px 6px; white-space: nowrap; user-select: none; }
th[data-sort] { cursor: pointer; }
th[data-sort]:hover { color: var(--text); }
th[aria-sort=ascending]::after { content: " \25B2"; font-size: 9px; }
th[aria-sort=descending]::after { content: " \25BC"; font-size: 9px; }
td { padding: 5px 6px; border-bottom: 1px solid #f0f1f4; vertical-align: middle; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
#triples-view, #detail { overflow-x: auto; }   /* a table wider than its column scrolls; it is never cut */
#triples td:not(.num) { overflow-wrap: break-word; }
tr.triple { cursor: pointer; }
tr.triple:hover { background: #f9fafb; }
tr.triple.selected { background: var(--sel); }
.badge { display: inline-block; min-width: 30px; text-align: center; font-size: 11px; font-weight: 700; padding: 1px 6px;
         border-radius: 10px; color: #fff; background: #64748b; }
.badge.tp { background: var(--tp); } .badge.fp { background: var(--fp); } .badge.fn { background: var(--fn); }
.pos { color: var(--tp); } .neg { color: var(--fp); }
.rel-id { color: var(--muted); font-size: 11px; margin-left: 4px; }
.bar-track { display: inline-block; position: relative; width: 54px; height: 7px; border-radius: 4px; background: #eef0f3;
             vertical-align: middle; margin-right: 5px; overflow: hidden; }
.bar { display: block; height: 100%; border-radius: 4px; background: rgb(var(--key)); }
.swatch { display: inline-block; width: 16px; height: 16px; line-height: 16px; border-radius: 50%; color: #fff; font-size: 10px;
          text-align: center; font-weight: 700; }
#detail .hint { color: var(--muted); margin: 0; }
#detail dl { display: grid; grid-template-columns: auto 1fr; gap: 2px 12px; margin: 8px 0; font-size: 13px; }
#detail dt { color: var(--muted); } #detail dd { margin: 0; font-variant-numeric: tabular-nums; }
#detail .arrow { color: var(--muted); font-weight: 400; }
#detail .head-name { color: var(--head); } #detail .tail-name { color: var(--tail); }
#detail .explain { background: #f8fafc; border: 1px solid var(--line); border-radius: 6px; padding: 7px 9px; font-size: 12.5px; margin: 8px 0; }
tr.pair.key td { background: rgba(var(--key), .10); }
tr.pair:hover td { background: #f1f5f9; }
tr.pair td.m { max-width: 150px; overflow-wrap: anywhere; }
#pair-table, #context-table { font-size: 12.5px; }
#pair-table td, #pair-table th { padding: 4px 4px; }
#pair-table .bar-track { width: 36px; }
.sent-tag { font-size: 10.5px; color: var(--muted); margin-left: 3px; }
#legend dl { margin: 0; font-size: 12.5px; }
#legend dt { font-weight: 600; margin-top: 7px; }
#legend dd { margin: 1px 0 0; color: #344054; }
.legend-sample { padding: 0 4px; border-radius: 3px; }
#aggregate .stat { display: flex; justify-content: space-between; gap: 8px; font-size: 13px; padding: 2px 0; }
#aggregate .stat b { font-variant-numeric: tabular-nums; white-space: nowrap; }
#triples.context-mode .kp-col { display: none; }
.split { display: flex; height: 8px; border-radius: 4px; overflow: hidden; margin: 4px 0 2px; background: #eef0f3; }
.split .intra { background: #60a5fa; } .split .inter { background: #f59e0b; }
#aggregate table { font-size: 12px; margin-top: 4px; }
.empty { color: var(--muted); font-style: italic; }
@media (max-width: 1100px) { #layout { grid-template-columns: 1fr; height: auto; } #layout > * { overflow: visible; } }
"""

_SCRIPT = r"""
"use strict";
(function () {
  const DATA = JSON.parse(document.getElementById("docre-data").textContent);
  const DOCS = DATA.documents || [];
  const AGG = DATA.aggregate || {};
  const PAIR_COLOURS = ["#7c3aed", "#e11d48", "#0891b2", "#ea580c", "#4d7c0f", "#be185d", "#1d4ed8", "#a16207"];
  const byIndex = new Map(DOCS.map((d, i) => [String(d.doc_index), i]));
  const state = { doc: -1, triple: null, sort: { key: "margin", dir: -1 }, rel: "", status: "" };
  const $ = (sel) => document.querySelector(sel);

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k === "style") e.style.cssText = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : String(c));
    }
    return e;
  }
  // a share as a percentage with two significant digits below 10% (0.041%, 2.7%, 35.2%): never a bare "0.0%"
  const pct = (x) => { const v = 100 * x; return (v === 0 ? "0" : v >= 10 ? v.toFixed(1) : v.toPrecision(2)) + "%"; };
  const fmt = (x, n = 2) => (x === null || x === undefined || Number.isNaN(x)) ? "\u2013" : Number(x).toFixed(n);
  const tripleKey = (t) => t.h + ":" + t.r + ":" + t.t;
  const entBg = (e) => "hsl(" + ((e * 137.508) % 360).toFixed(1) + ", 70%, 93%)";
  const entFg = (e) => "hsl(" + ((e * 137.508) % 360).toFixed(1) + ", 55%, 42%)";
  const statusOf = (t) => t.status || (t.predicted ? "pred" : "");
  const hasGoldTriples = (d) => d.scores && (d.scores.tp + d.scores.fp + d.scores.fn) > 0;
  function f1Colour(f) { const h = Math.round(1.2 * f); return "background: hsl(" + h + ", 70%, 90%); color: hsl(" + h + ", 60%, 28%)"; }
  function docF1Text(d) {
    if (!d.scores) return "no gold";
    if (!hasGoldTriples(d)) return "F1 \u2013";
    return "F1 " + d.scores.f1.toFixed(1);
  }
  function docCounts(d) {
    if (d.scores) return d.scores.tp + " TP \u00b7 " + d.scores.fp + " FP \u00b7 " + d.scores.fn + " FN";
    return d.num_predicted + " predicted";
  }

  // ------------------------------------------------------------------ header + aggregate
  function renderHeader() {
    const a = AGG.triples || {};
    let s = DOCS.length + " documents \u00b7 " + (a.predicted || 0) + " predicted";
    if (AGG.documents_with_gold) s += " \u00b7 " + a.tp + " TP, " + a.fp + " FP, " + a.fn + " FN";
    if (AGG.micro) s += " \u00b7 micro F1 " + AGG.micro.f1.toFixed(2);
    $("#summary").textContent = s;
    const m = DATA.meta || {};
    const bits = [];
    if (m.head) bits.push("head " + m.head);
    if (m.model) bits.push("model " + m.model);
    if (m.data) bits.push("data " + m.data);
    $("#meta").textContent = bits.join("  \u00b7  ");
    $("#meta").title = bits.join("\n");
  }

  function stat(label, value, key, hint) {
    return el("div", { class: "stat", title: hint || null }, el("span", { text: label }),
      el("b", { "data-stat": key, text: value }));
  }

  function renderAggregate() {
    const box = $("#aggregate-body");
    box.replaceChildren();
    const t = AGG.triples || {}, ks = AGG.key_sets || {}, kp = AGG.key_pairs || {};
    box.append(stat("documents", AGG.documents, "documents"));
    box.append(stat("predicted triples", t.predicted, "predicted"));
    if (AGG.documents_with_gold) {
      box.append(stat("true / false positives", t.tp + " / " + t.fp, "tp-fp"));
      box.append(stat("missed (false negatives)", t.fn, "fn"));
    }
    if (AGG.micro) box.append(stat("P / R / F1 (micro)", fmt(AGG.micro.precision, 1) + " / " + fmt(AGG.micro.recall, 1) +
      " / " + fmt(AGG.micro.f1, 1), "micro"));
    if (ks.triples) {
      box.append(el("h2", { style: "margin-top:12px", text: "Key sets of predictions" }));
      box.append(stat("rest on a single mention pair", ks.single, "single", "|K| = 1"));
      box.append(stat("rest on several mention pairs", ks.several, "several", "|K| > 1"));
      box.append(stat("mean key-set size", fmt(ks.mean_size, 2), "mean-size"));
      const total = (kp.intra_sentence || 0) + (kp.inter_sentence || 0);
      const intraPct = total ? 100 * kp.intra_sentence / total : 0;
      box.append(el("div", { class: "split", title: "key pairs within one sentence (blue) vs across sentences (amber)" },
        el("div", { class: "intra", style: "width:" + intraPct + "%" }),
        el("div", { class: "inter", style: "width:" + (100 - intraPct) + "%" })));
      box.append(stat("key pairs within a sentence", kp.intra_sentence, "intra"));
      box.append(stat("key pairs across sentences", kp.inter_sentence, "inter"));
      const cross = AGG.cross_sentence_relations || [];
      if (cross.length) {
        box.append(el("h2", { style: "margin-top:12px", text: "Relations resting on cross-sentence key pairs" }));
        const tb = el("tbody");
        for (const c of cross.slice(0, 30)) {
          tb.append(el("tr", { "data-relation": c.r },
            el("td", {}, el("span", { text: c.relation }), c.relation !== c.r ? el("span", { class: "rel-id", text: c.r }) : null),
            el("td", { class: "num", text: c.inter_only + " / " + c.predicted })));
        }
        box.append(el("table", { id: "cross-relations" },
          el("thead", {}, el("tr", {}, el("th", { text: "relation" }), el("th", { class: "num", text: "only cross / all" }))), tb));
      }
    } else if (DOCS.some((d) => d.attribution === "context")) {
      box.append(el("p", { class: "muted small", id: "attribution-note", text: contextNote() }));
    }
  }

  function contextNote() {
    if (DOCS.some((d) => d.attribution === "context" && d.head === "kmgre"))
      return "This KMGRE model's key-pair path was not trained yet (it stopped in the entity-level warm-up, before " +
        "the EM phase): its scores come from the entity-pair head, so each triple lists the context words its score " +
        "attends to; the mention pairs are shown for p_omega only.";
    return "This model scores entity pairs directly (ATLOP): there are no key mention pairs; each triple lists the " +
      "context words its score attends to.";
  }

  // ------------------------------------------------------------------ document list
  function docOrderValue(d, order) {
    if (order === "f1") return d.scores && hasGoldTriples(d) ? d.scores.f1 : 1000;
    if (order === "triples") return -d.triples.length;
    return 0;
  }
  function renderDocList() {
    const ul = $("#doc-list");
    ul.replaceChildren();
    const q = $("#doc-search").value.trim().toLowerCase();
    const order = $("#doc-order").value;
    const idx = DOCS.map((d, i) => i).filter((i) => !q || DOCS[i].title.toLowerCase().includes(q) || String(DOCS[i].doc_index) === q);
    idx.sort((a, b) => (docOrderValue(DOCS[a], order) - docOrderValue(DOCS[b], order)) || (a - b));
    for (const i of idx) {
      const d = DOCS[i];
      ul.append(el("li", { class: "doc-item" + (i === state.doc ? " selected" : ""), "data-doc": d.doc_index, tabindex: 0,
                           title: d.title, onclick: () => selectDoc(i), onkeydown: (ev) => { if (ev.key === "Enter") selectDoc(i); } },
        el("span", { class: "doc-title", text: d.title }),
        el("span", { class: "doc-f1", text: docF1Text(d), style: d.scores && hasGoldTriples(d) ? f1Colour(d.scores.f1) : "color:#98a2b3" }),
        el("span", { class: "doc-counts", text: "#" + d.doc_index + " \u00b7 " + docCounts(d) })));
    }
    $("#doc-count").textContent = idx.length === DOCS.length ? DOCS.length + " documents" : idx.length + " of " + DOCS.length;
  }

  // ------------------------------------------------------------------ document text
  function renderText(d) {
    const box = $("#doc-text");
    box.replaceChildren();
    box.classList.remove("has-selection");
    const bySent = d.sents.map(() => []);
    for (const e of d.entities) {
      for (const m of e.mentions) {
        if (bySent[m.sent_id] && m.start < d.sents[m.sent_id].length && m.end > m.start) {
          bySent[m.sent_id].push({ e: e.index, k: m.mention, start: m.start, end: m.end, kept: m.kept, name: e.name, type: e.type });
        }
      }
    }
    let w0 = 0;
    d.sents.forEach((words, s) => {
      const sent = el("span", { class: "sent", "data-sent": s }, el("span", { class: "sid", text: s }));
      const ms = bySent[s].sort((a, b) => (a.start - b.start) || (b.end - a.end));
      const stack = [{ node: sent, end: Infinity }];
      const close = () => {
        const top = stack.pop();
        top.node.append(el("sub", { class: "eid", text: top.m.e }));
      };
      let mi = 0;
      for (let i = 0; i < words.length; i++) {
        while (stack.length > 1 && stack[stack.length - 1].end <= i) close();
        if (i > 0) stack[stack.length - 1].node.append(" ");
        while (mi < ms.length && ms[mi].start <= i) {
          const m = ms[mi++];
          const parent = stack[stack.length - 1];
          const span = el("span", { class: "mention" + (m.kept ? "" : " unkept"), "data-mention": m.e + "-" + m.k, "data-entity": m.e,
                                    title: "entity " + m.e + ": " + m.name + (m.type ? " (" + m.type + ")" : "") + (m.kept ? "" : " \u2014 past max_seq_length, not seen by the model") });
          span.style.setProperty("--ent-bg", entBg(m.e));
          span.style.setProperty("--ent-fg", entFg(m.e));
          parent.node.append(span);
          stack.push({ node: span, end: Math.min(m.end, parent.end), m: m });
        }
        stack[stack.length - 1].node.append(el("span", { class: "w", "data-word": w0 + i, text: words[i] }));
      }
      while (stack.length > 1) close();
      box.append(sent, " ");
      w0 += words.length;
    });
    const legend = $("#entity-legend");
    legend.replaceChildren();
    for (const e of d.entities) {
      const chip = el("span", { class: "chip", "data-entity": e.index, title: e.mentions.length + " mention(s)",
                                onmouseenter: () => mentionsOf(e.index).forEach((m) => m.classList.add("hl")),
                                onmouseleave: () => mentionsOf(e.index).forEach((m) => m.classList.remove("hl")) },
        e.index + " " + e.name + (e.type ? " \u00b7 " + e.type : "") + (e.mentions.length > 1 ? " \u00d7" + e.mentions.length : "")
        + ("link" in e ? " \u2192 " + (e.link === null ? "NIL" : e.link) : ""));
      chip.style.setProperty("--ent-bg", entBg(e.index));
      chip.style.setProperty("--ent-fg", entFg(e.index));
      legend.append(chip);
    }
  }
  const mentionsOf = (e) => Array.from(document.querySelectorAll('#doc-text .mention[data-entity="' + e + '"]'));
  const mentionSpan = (m) => document.querySelector('#doc-text .mention[data-mention="' + m.entity + "-" + m.mention + '"]');

  // ------------------------------------------------------------------ triples table
  const SORTS = {
    status: (t) => ({ tp: 0, fp: 1, fn: 2, pred: 0 })[statusOf(t)] ?? 3,
    head: (t) => t.head.toLowerCase(),
    relation: (t) => (t.relation + " " + t.r).toLowerCase(),
    tail: (t) => t.tail.toLowerCase(),
    margin: (t) => t.margin,
    score: (t) => t.score,
    logit: (t) => t.logit,
    keys: (t) => t.num_key_pairs ?? -1,
    pomega: (t) => bestPomega(t) ?? -1,
  };
  const TEXT_SORTS = new Set(["head", "relation", "tail", "status"]);
  function bestPomega(t) {
    if (!t.mention_pairs || !t.mention_pairs.length) return null;
    return Math.max(...t.mention_pairs.map((p) => p.p_omega));
  }
  function visibleTriples(d) {
    const rows = d.triples.filter((t) => (!state.rel || t.r === state.rel) &&
      (!state.status || (state.status === "predicted" ? t.predicted : statusOf(t) === state.status)));
    const f = SORTS[state.sort.key] || SORTS.margin;
    rows.sort((a, b) => {
      const x = f(a), y = f(b);
      const c = x < y ? -1 : x > y ? 1 : 0;
      return c * state.sort.dir || (a.h - b.h) || (a.t - b.t) || (a.r < b.r ? -1 : a.r > b.r ? 1 : 0);
    });
    return rows;
  }
  function renderFilters() {
    const rels = new Map();
    for (const d of DOCS) for (const t of d.triples) rels.set(t.r, t.relation);
    const sel = $("#relation-filter");
    sel.replaceChildren(el("option", { value: "", text: "all relations" }));
    for (const [r, name] of Array.from(rels).sort((a, b) => a[1].localeCompare(b[1]))) {
      sel.append(el("option", { value: r, text: name === r ? r : name + " (" + r + ")" }));
    }
    sel.value = state.rel;
    $("#status-filter").value = state.status;
  }
  function renderTriples() {
    const d = DOCS[state.doc];
    const tb = $("#triples tbody");
    tb.replaceChildren();
    for (const th of document.querySelectorAll("#triples th[data-sort]")) {
      if (th.dataset.sort === state.sort.key) th.setAttribute("aria-sort", state.sort.dir > 0 ? "ascending" : "descending");
      else th.removeAttribute("aria-sort");
    }
    if (!d) return;
    $("#triples").classList.toggle("context-mode", d.attribution === "context" && !d.triples.some((t) => t.mention_pairs));
    const rows = visibleTriples(d);
    for (const t of rows) {
      const key = tripleKey(t);
      const st = statusOf(t);
      const best = bestPomega(t);
      tb.append(el("tr", { class: "triple" + (key === state.triple ? " selected" : ""), "data-triple": key, "data-status": st, tabindex: 0,
                           onclick: () => selectTriple(key), onkeydown: (ev) => { if (ev.key === "Enter") selectTriple(key); } },
        el("td", {}, el("span", { class: "badge " + st, text: st ? st.toUpperCase() : "" })),
        el("td", { class: "ent", text: t.head }),
        el("td", {}, el("span", { text: t.relation }), t.relation !== t.r ? el("span", { class: "rel-id", text: t.r }) : null),
        el("td", { class: "ent", text: t.tail }),
        el("td", { class: "num " + (t.margin > 0 ? "pos" : "neg"), text: (t.margin > 0 ? "+" : "") + fmt(t.margin) }),
        el("td", { class: "num", text: fmt(t.score, 3) }),
        el("td", { class: "num", text: fmt(t.logit) }),
        el("td", { class: "num kp-col", text: t.num_key_pairs === null ? "\u2013" : t.num_key_pairs + " / " + t.num_mention_pairs }),
        el("td", { class: "num kp-col" }, best === null ? "\u2013" : [el("span", { class: "bar-track" }, el("span", { class: "bar", style: "width:" + (100 * best).toFixed(0) + "%" })), fmt(best)])));
    }
    const n = d.triples.length;
    $("#triple-count").textContent = rows.length === n ? n + " triples" : rows.length + " of " + n + " triples";
    $("#triples-empty").textContent = n === 0 ? "No triples: the model predicts no relation here" + (d.has_gold ? " and the document has no gold relation (or the filters used when the file was written removed them)." : ".") : rows.length === 0 ? "No triple matches the filters." : "";
  }

  // ------------------------------------------------------------------ selection
  function clearSelectionMarks() {
    for (const m of document.querySelectorAll("#doc-text .mention")) {
      m.classList.remove("key", "sel-head", "sel-tail", "hover");
      m.style.removeProperty("background-color");
      m.style.removeProperty("--pair");
      delete m.dataset.pair;
      delete m.dataset.pOmega;
    }
    for (const w of document.querySelectorAll("#doc-text .w.ctx")) { w.classList.remove("ctx"); w.style.removeProperty("background-color"); }
    $("#doc-text").classList.remove("has-selection");
  }
  function keyPairs(t) { return (t && t.mention_pairs ? t.mention_pairs.filter((p) => p.key) : []); }
  function selectTriple(key, keepHash) {
    const d = DOCS[state.doc];
    const t = d ? d.triples.find((x) => tripleKey(x) === key) : null;
    state.triple = t ? key : null;
    clearSelectionMarks();
    for (const row of document.querySelectorAll("#triples tr.triple")) row.classList.toggle("selected", row.dataset.triple === state.triple);
    if (t) {
      $("#doc-text").classList.add("has-selection");
      mentionsOf(t.h).forEach((m) => m.classList.add("sel-head"));
      mentionsOf(t.t).forEach((m) => m.classList.add("sel-tail"));
      keyPairs(t).forEach((p, n) => {
        for (const m of [p.head, p.tail]) {
          const span = mentionSpan(m);
          if (!span) continue;
          span.classList.add("key");
          const prev = span.dataset.pOmega === undefined ? -1 : Number(span.dataset.pOmega);
          if (p.p_omega > prev) {
            span.dataset.pOmega = String(p.p_omega);
            span.style.backgroundColor = "rgba(255, 176, 0, " + (0.18 + 0.72 * p.p_omega).toFixed(3) + ")";
          }
          if (span.dataset.pair === undefined) {
            span.dataset.pair = String(n);
            span.style.setProperty("--pair", PAIR_COLOURS[n % PAIR_COLOURS.length]);
          }
        }
      });
      if (t.context_tokens && t.context_tokens.length) {
        const mx = Math.max(...t.context_tokens.map((c) => c.weight)) || 1;
        for (const c of t.context_tokens) {
          const w = document.querySelector('#doc-text .w[data-word="' + c.word + '"]');
          if (!w) continue;
          w.classList.add("ctx");
          w.style.backgroundColor = "rgba(255, 176, 0, " + (0.15 + 0.7 * c.weight / mx).toFixed(3) + ")";
        }
      }
      document.body.dataset.selectedTriple = d.doc_index + ":" + key;
    } else {
      delete document.body.dataset.selectedTriple;
    }
    renderDetail(d, t);
    drawLinks();
    if (!keepHash) writeHash();
    const row = document.querySelector('#triples tr.triple.selected');
    if (row && row.scrollIntoView) row.scrollIntoView({ block: "nearest" });
  }

  function drawLinks(hoverPair) {
    const svg = $("#pair-links");
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const wrap = $("#doc-text-wrap");
    svg.setAttribute("width", wrap.scrollWidth);
    svg.setAttribute("height", wrap.scrollHeight);
    const d = DOCS[state.doc];
    const t = d && state.triple ? d.triples.find((x) => tripleKey(x) === state.triple) : null;
    if (!t) return;
    const pairs = keyPairs(t).map((p, n) => ({ p, n, colour: PAIR_COLOURS[n % PAIR_COLOURS.length] }));
    if (hoverPair && !hoverPair.key) pairs.push({ p: hoverPair, n: "h", colour: "#64748b", dashed: true });
    const base = wrap.getBoundingClientRect();
    const NS = "http://www.w3.org/2000/svg";
    for (const { p, n, colour, dashed } of pairs) {
      const a = mentionSpan(p.head), b = mentionSpan(p.tail);
      if (!a || !b) continue;
      const ra = a.getClientRects()[0], rb = b.getClientRects()[0];
      if (!ra || !rb) continue;
      const ax = ra.left + ra.width / 2 - base.left, bx = rb.left + rb.width / 2 - base.left;
      let path;
      if (Math.abs(ra.top - rb.top) < 4) {
        const y = ra.top - base.top - 1;
        const lift = Math.min(26, 10 + Math.abs(bx - ax) / 8);
        path = "M" + ax + "," + y + " C" + ax + "," + (y - lift) + " " + bx + "," + (y - lift) + " " + bx + "," + y;
      } else {
        const [up, down, ux, dx] = ra.top < rb.top ? [ra, rb, ax, bx] : [rb, ra, bx, ax];
        const y1 = up.bottom - base.top + 1, y2 = down.top - base.top - 1;
        const mid = (y1 + y2) / 2;
        path = "M" + ux + "," + y1 + " C" + ux + "," + mid + " " + dx + "," + mid + " " + dx + "," + y2;
      }
      const e = document.createElementNS(NS, "path");
      e.setAttribute("d", path);
      e.setAttribute("class", "link");
      e.setAttribute("data-pair", n);
      e.setAttribute("fill", "none");
      e.setAttribute("stroke", colour);
      e.setAttribute("stroke-width", (1.5 + 2.5 * p.p_omega).toFixed(2));
      e.setAttribute("stroke-opacity", "0.85");
      e.setAttribute("stroke-linecap", "round");
      if (dashed) e.setAttribute("stroke-dasharray", "4 3");
      svg.appendChild(e);
      for (const [x, r] of [[ax, ra], [bx, rb]]) {
        const c = document.createElementNS(NS, "circle");
        const onLine = Math.abs(ra.top - rb.top) < 4;
        c.setAttribute("cx", x);
        c.setAttribute("cy", onLine ? r.top - base.top - 1 : (r === (ra.top < rb.top ? ra : rb) ? r.bottom - base.top + 1 : r.top - base.top - 1));
        c.setAttribute("r", 2.6);
        c.setAttribute("fill", colour);
        svg.appendChild(c);
      }
    }
  }

  // ------------------------------------------------------------------ detail panel
  function mentionCell(m) {
    return el("td", { class: "m", title: m.text + (m.sent_id === null ? "" : " (sentence " + m.sent_id + ")") },
      m.text, m.sent_id === null ? null : el("span", { class: "sent-tag", text: "s" + m.sent_id }));
  }
  function fusedFromRecord(t, fusion) {
    const key = keyPairs(t).map((p) => p.logit);
    if (!key.length) return null;
    if (fusion === "mean") return key.reduce((a, b) => a + b, 0) / key.length;
    const mx = Math.max(...key);
    return mx + Math.log(key.reduce((a, b) => a + Math.exp(b - mx), 0));
  }
  function renderDetail(d, t) {
    const box = $("#detail");
    box.replaceChildren();
    if (!t) {
      box.removeAttribute("data-triple");
      box.append(el("h2", { text: "Why this triple?" }),
        el("p", { class: "hint", text: d ? "Select a triple in the table to see the mention pairs its score rests on." : "Select a document." }));
      return;
    }
    box.dataset.triple = tripleKey(t);
    const st = statusOf(t);
    box.append(el("h2", { text: "Why this triple?" }));
    box.append(el("h3", {}, el("span", { class: "head-name", text: t.head }), el("span", { class: "arrow", text: " \u2014 " }),
      el("span", { text: t.relation }), t.relation !== t.r ? el("span", { class: "rel-id", text: t.r }) : null,
      el("span", { class: "arrow", text: " \u2192 " }), el("span", { class: "tail-name", text: t.tail }), " ",
      el("span", { class: "badge " + st, text: st ? st.toUpperCase() : "" })));
    const verdict = t.status === "fn" ? "missed: the relation's logit stays below the threshold" :
      t.status === "fp" ? "predicted, but not a gold relation" : t.status === "tp" ? "predicted and correct" : "predicted";
    box.append(el("dl", {},
      el("dt", { text: "decision" }), el("dd", { text: verdict }),
      el("dt", { text: "score" }), el("dd", { "data-field": "score", title: "sigmoid(margin), as docre predict's score", text: fmt(t.score, 4) }),
      el("dt", { text: "relation logit" }), el("dd", { "data-field": "logit", text: fmt(t.logit, 4) }),
      el("dt", { text: "threshold logit" }), el("dd", { "data-field": "threshold", text: fmt(t.threshold_logit, 4) }),
      el("dt", { text: "margin" }), el("dd", { class: t.margin > 0 ? "pos" : "neg", "data-field": "margin", text: (t.margin > 0 ? "+" : "") + fmt(t.margin, 4) })));
    if (t.mention_pairs) {
      const fused = fusedFromRecord(t, d.fusion);
      const k = t.num_key_pairs;
      if (d.attribution === "key_pairs") {
        box.append(el("div", { class: "explain" },
          "The score fuses " + k + " key mention pair" + (k === 1 ? "" : "s") + " (of " + t.num_mention_pairs + ") by " +
          (d.fusion === "mean" ? "their mean" : "logsumexp") + ": " + fmt(fused, 4) + " recomputed from the table below" +
          (fused !== null && Math.abs(fused - t.logit) < 1e-3 ? " \u2014 equal to the relation logit." : ".")));
      } else {
        box.append(el("div", { class: "explain", text: "This KMGRE model had not left its entity-level warm-up: the score comes from the entity-level head (context words below); the mention pairs are shown for p_omega only." }));
      }
      const tb = el("tbody");
      let n = 0;
      for (const p of t.mention_pairs) {
        const idx = p.key ? n++ : null;
        const colour = p.key ? PAIR_COLOURS[idx % PAIR_COLOURS.length] : null;
        tb.append(el("tr", { class: "pair" + (p.key ? " key" : ""), "data-pair": p.key ? idx : "r" + p.rank,
                             onmouseenter: () => { [p.head, p.tail].forEach((m) => { const s = mentionSpan(m); if (s) s.classList.add("hover"); }); drawLinks(p); },
                             onmouseleave: () => { document.querySelectorAll("#doc-text .mention.hover").forEach((s) => s.classList.remove("hover")); drawLinks(); } },
          el("td", {}, p.key ? el("span", { class: "swatch", style: "background:" + colour, text: idx + 1, title: "key pair " + (idx + 1) }) : el("span", { class: "muted small", text: "#" + (p.rank + 1) })),
          mentionCell(p.head), mentionCell(p.tail),
          el("td", { class: "num" }, el("span", { class: "bar-track" }, el("span", { class: "bar", style: "width:" + (100 * p.p_omega).toFixed(0) + "%" })), fmt(p.p_omega, 3)),
          el("td", { class: "num", text: fmt(p.prob, 3) }),
          el("td", { class: "num", text: fmt(p.logit, 3) }),
          el("td", { class: "num", text: p.key ? (100 * p.share).toFixed(1) + "%" : "\u2013" })));
      }
      box.append(el("table", { id: "pair-table" }, el("thead", {}, el("tr", {},
        el("th", { text: "" }), el("th", { text: "head mention" }), el("th", { text: "tail mention" }),
        el("th", { class: "num", text: "p_omega", title: "probability that this mention pair is a key pair" }),
        el("th", { class: "num", text: "p(r)", title: "mention-level probability sigmoid(l_r)" }),
        el("th", { class: "num", text: "l_r", title: "mention-level logit of the relation" }),
        el("th", { class: "num", text: "share", title: "share of the fused logit" }))), tb));
      const shown = t.mention_pairs.length;
      if (shown < t.num_mention_pairs) box.append(el("p", { class: "muted small", text: "Showing " + shown + " of " + t.num_mention_pairs + " mention pairs: the highest p_omega and every key pair." }));
    }
    if (t.evidence_scores || t.gold_evidence) {
      box.append(el("h2", { style: "margin-top:12px", text: "Evidence sentences" }));
      const pred = new Set(t.evidence || []), gold = new Set(t.gold_evidence || []);
      const tb = el("tbody");
      const n = d.sents.length;
      for (let s = 0; s < n; s++) {
        const score = t.evidence_scores ? t.evidence_scores[s] : null;
        if (!pred.has(s) && !gold.has(s) && !(score > 0.05)) continue;
        tb.append(el("tr", { class: "evidence-sent" + (pred.has(s) ? " key" : "") },
          el("td", { class: "muted small", text: "sentence " + s }),
          el("td", { text: (pred.has(s) ? "predicted" : "") + (pred.has(s) && gold.has(s) ? ", " : "") + (gold.has(s) ? "gold" : "") }),
          el("td", { class: "num" }, score === null ? "\u2013" : el("span", {}, el("span", { class: "bar-track" }, el("span", { class: "bar", style: "width:" + (100 * Math.min(1, score)).toFixed(0) + "%" })), fmt(score, 3)))));
      }
      box.append(el("table", { id: "evidence-table" }, el("thead", {}, el("tr", {},
        el("th", { text: "" }), el("th", { text: "evidence" }),
        el("th", { class: "num", text: "score", title: "evidence score of the sentence (docs/evidence.md)" }))), tb));
    }
    if (t.context_tokens) {
      box.append(el("h2", { style: "margin-top:12px", text: "Context words the pair attends to" }));
      if (!t.context_tokens.length) box.append(el("p", { class: "muted small", text: "none (an entity without a mention within max_seq_length)" }));
      const mx = Math.max(0, ...t.context_tokens.map((c) => c.weight)) || 1;
      const tb = el("tbody");
      for (const c of t.context_tokens) {
        tb.append(el("tr", { class: "ctx-word", "data-word": c.word },
          el("td", { text: c.text }), el("td", { class: "muted small", text: "sentence " + c.sent_id }),
          el("td", { class: "num" }, el("span", { class: "bar-track" }, el("span", { class: "bar", style: "width:" + (100 * c.weight / mx).toFixed(0) + "%" })), pct(c.weight))));
      }
      box.append(el("table", { id: "context-table" }, tb));
    }
  }

  // ------------------------------------------------------------------ documents, hash
  function selectDoc(i, keepHash) {
    state.doc = i;
    state.triple = null;
    const d = DOCS[i];
    for (const li of document.querySelectorAll("#doc-list .doc-item")) li.classList.toggle("selected", li.dataset.doc === String(d.doc_index));
    $("#doc-title").textContent = d.title;
    const meta = $("#doc-meta");
    meta.replaceChildren();
    meta.append(el("span", { class: "muted small", text: "document #" + d.doc_index + " \u00b7 " + d.entities.length + " entities \u00b7 " + d.sents.length + " sentences \u00b7 " + d.num_predicted + " predicted" }));
    if (d.scores) {
      const s = d.scores;
      meta.append(el("span", { class: "small", "data-field": "doc-scores",
        text: "P " + fmt(s.precision, 1) + "  R " + fmt(s.recall, 1) + "  F1 " + fmt(s.f1, 1) + "  (" + s.tp + " TP, " + s.fp + " FP, " + s.fn + " FN)" }));
    } else {
      meta.append(el("span", { class: "muted small", text: "no gold labels" }));
    }
    renderText(d);
    renderTriples();
    selectTriple(null, true);
    if (!keepHash) writeHash();
  }
  function writeHash() {
    const d = DOCS[state.doc];
    const h = !d ? "" : state.triple ? "triple=" + d.doc_index + ":" + state.triple : "doc=" + d.doc_index;
    try { history.replaceState(null, "", h ? "#" + h : location.pathname + location.search); } catch (e) { /* file: URLs in some browsers */ }
  }
  function applyHash() {
    const params = new URLSearchParams(location.hash.replace(/^#/, ""));
    const tr = params.get("triple");
    if (tr) {
      const parts = tr.split(":");
      if (parts.length >= 4 && byIndex.has(parts[0])) {
        selectDoc(byIndex.get(parts[0]), true);
        state.rel = ""; state.status = "";
        renderFilters();
        renderTriples();
        selectTriple(parts[1] + ":" + parts.slice(2, -1).join(":") + ":" + parts[parts.length - 1], true);
        writeHash();
        return;
      }
    }
    const doc = params.get("doc");
    if (doc !== null && byIndex.has(doc)) selectDoc(byIndex.get(doc));
    else if (state.doc < 0 && DOCS.length) selectDoc(0);
  }

  function init() {
    renderHeader();
    renderAggregate();
    renderFilters();
    renderDocList();
    $("#doc-search").addEventListener("input", renderDocList);
    $("#doc-order").addEventListener("change", renderDocList);
    $("#relation-filter").addEventListener("change", (e) => { state.rel = e.target.value; renderTriples(); });
    $("#status-filter").addEventListener("change", (e) => { state.status = e.target.value; renderTriples(); });
    for (const th of document.querySelectorAll("#triples th[data-sort]")) {
      th.addEventListener("click", () => {
        const k = th.dataset.sort;
        if (state.sort.key === k) state.sort.dir = -state.sort.dir;
        else state.sort = { key: k, dir: TEXT_SORTS.has(k) ? 1 : -1 };
        renderTriples();
      });
    }
    window.addEventListener("resize", () => drawLinks());
    window.addEventListener("hashchange", applyHash);
    if (!DOCS.length) {
      $("#doc-title").textContent = "No documents";
      renderDetail(null, null);
      return;
    }
    applyHash();
    document.body.dataset.ready = "1";
  }
  init();
})();
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="docre inspect">
<title>docre inspect</title>
<style>/*__STYLE__*/</style>
</head>
<body>
<header id="top"><h1>docre inspect</h1><span id="summary"></span><span id="meta"></span></header>
<div id="layout">
  <nav id="sidebar">
    <section class="panel" id="documents">
      <h2>Documents <span class="muted small" id="doc-count"></span></h2>
      <input id="doc-search" type="search" placeholder="Filter by title or #index" aria-label="filter documents">
      <div class="row"><label class="small muted" for="doc-order">order</label>
        <select id="doc-order"><option value="file">file order</option><option value="f1">lowest F1 first</option>
        <option value="triples">most triples first</option></select></div>
      <ul id="doc-list"></ul>
    </section>
    <section class="panel" id="aggregate"><h2>Across these documents</h2><div id="aggregate-body"></div></section>
  </nav>
  <main id="main">
    <section class="panel" id="doc-view">
      <div id="doc-header"><h3 id="doc-title"></h3><div id="doc-meta" class="row"></div></div>
      <div id="doc-text-wrap"><div id="doc-text"></div><svg id="pair-links" xmlns="http://www.w3.org/2000/svg"></svg></div>
      <div id="entity-legend"></div>
    </section>
    <section class="panel" id="triples-view">
      <div class="toolbar"><h2 style="margin:0">Triples</h2>
        <select id="relation-filter" aria-label="relation"></select>
        <select id="status-filter" aria-label="status"><option value="">all statuses</option>
          <option value="tp">TP (correct)</option><option value="fp">FP (wrong)</option>
          <option value="fn">FN (missed)</option><option value="predicted">predicted (TP + FP)</option></select>
        <span class="count muted small" id="triple-count"></span></div>
      <table id="triples">
        <thead><tr><th data-sort="status">status</th><th data-sort="head">head</th><th data-sort="relation">relation</th>
        <th data-sort="tail">tail</th><th data-sort="margin" class="num" title="relation logit minus threshold logit">margin</th>
        <th data-sort="score" class="num" title="sigmoid(margin), as docre predict's score: above 0.5 predicted">score</th>
        <th data-sort="logit" class="num">logit</th><th data-sort="keys" class="num kp-col" title="key pairs / all mention pairs">key pairs</th>
        <th data-sort="pomega" class="num kp-col" title="highest p_omega among the pair's mention pairs">best p_omega</th></tr></thead>
        <tbody></tbody>
      </table>
      <p class="empty" id="triples-empty"></p>
    </section>
  </main>
  <aside id="detail-col">
    <section class="panel" id="detail"></section>
    <section class="panel" id="legend">
      <h2>How to read this</h2>
      <dl>
        <dt>Triple, margin</dt>
        <dd>A triple is (head entity, relation, tail entity). The model gives each relation a score (logit) and a
        threshold score; the margin is their difference. A positive margin means the relation is predicted.</dd>
        <dt>TP / FP / FN</dt>
        <dd>Against the gold labels: TP predicted and correct, FP predicted but wrong, FN a gold relation the model missed.</dd>
        <dt>Mention pair</dt>
        <dd>One mention of the head entity together with one mention of the tail entity. An entity named three times
        and another named twice give six mention pairs.</dd>
        <dt>p_omega</dt>
        <dd>The key-instance classifier's estimate (0 to 1) that this particular mention pair is the evidence the relation
        rests on. Higher means more likely to be the place in the text that states the relation.</dd>
        <dt>Key pair</dt>
        <dd>A mention pair whose p_omega clears its entity pair's threshold (the pair with the highest p_omega always
        does). Only key pairs are combined into the triple's score; the other mention pairs are ignored. The share
        column says how much each key pair contributes.</dd>
        <dt>Highlighting</dt>
        <dd><span class="legend-sample" style="border-bottom:3px solid var(--head)">head</span> and
        <span class="legend-sample" style="border-bottom:3px solid var(--tail)">tail</span> entity mentions are underlined;
        <span class="legend-sample" style="background:rgba(255,176,0,.75);outline:2px solid #7c3aed">key mentions</span>
        are shaded (darker = higher p_omega) and outlined, and a line of the same colour joins the two mentions of each
        key pair. Hover over a row of the pair table to show that pair. For models without key pairs (ATLOP), shaded
        words are the context the entity pair's score attends to most.</dd>
      </dl>
    </section>
  </aside>
</div>
<script type="application/json" id="docre-data">__DATA__</script>
<script>/*__SCRIPT__*/</script>
</body>
</html>
"""
