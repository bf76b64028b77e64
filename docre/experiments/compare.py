"""Compare configurations over seeds: mean +- std per metric, and paired differences with a
bootstrap confidence interval.

A *run* is a run directory written by ``docre train`` (``config.json``, ``metrics.jsonl``,
``dev_predictions.json`` at the best dev point). A *group* is one configuration trained with
several seeds: a directory of ``seed<N>/`` runs, as ``docre train --seeds`` writes it (a
single run directory is a group of one).

The paired difference of two groups uses the seeds they share and, for each seed, both
configurations' dev predictions on the same documents. Its interval comes from a two-level
bootstrap: each replicate resamples the shared seeds and, independently, the documents (with
replacement), recomputes F1 of both configurations on the resampled documents for each
resampled seed, and averages the differences. The interval therefore covers both sources of
noise at this scale: the training seed and the sample of evaluation documents.
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from docre.config import parse_range
from docre.data.documents import Document
from docre.data.reader import read_documents
from docre.errors import DocreError
from docre.evaluation.breakdown import (ALL, document_group_counts, group_order, relation_groups_by_frequency)
from docre.evaluation.official import read_predictions
from docre.resources import resolve_data_path

logger = logging.getLogger("docre")

SEED_PREFIX = "seed"
#: Metrics of a run's best dev point that ``docre compare`` summarises (keys of ``official_scores``).
SUMMARY_METRICS = ("f1", "ign_f1", "precision", "recall", "intra_f1", "inter_f1")
#: end-to-end runs (model.task end_to_end): the dev scores from the text at the best dev point
E2E_METRICS = {"e2e_mention_f1": "end to end: mention F1", "e2e_coref_f1": "end to end: coreference F1",
               "e2e_entity_f1": "end to end: entity F1", "e2e_relation_strict_f1": "end to end: strict F1"}


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The records of a run's ``metrics.jsonl`` (a torn last line, from a killed run, is dropped)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise DocreError(f"{path}: not found ({run_dir} is not a docre run directory)")
    lines = path.read_text(encoding="utf-8").splitlines()
    records = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            if n == len(lines):
                break
            raise DocreError(f"{path}: line {n} is not JSON") from exc
    return records


@dataclass
class Run:
    """One training run: its config, its dev evaluations and its best dev point."""

    path: Path
    config: dict[str, Any]
    evaluations: list[dict[str, Any]]
    best: dict[str, Any]
    finished: bool
    epoch_seconds: list[float] = field(default_factory=list)

    @property
    def seed(self) -> int:
        return int(self.config["train"]["seed"])

    @classmethod
    def load(cls, path: Path) -> "Run":
        path = Path(path)
        cfg_path = path / "config.json"
        if not cfg_path.is_file():
            raise DocreError(f"{path}: not a run directory (no config.json)")
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
        records = read_metrics(path)
        evals = [r for r in records if "dev_f1" in r]
        final = next((r for r in reversed(records) if "best_epoch" in r), None)
        if final is not None and "best_f1" in final:
            best = {"epoch": final["best_epoch"], **{k[5:]: v for k, v in final.items() if k.startswith("best_")}}
        elif evals:  # unfinished: its best evaluation so far
            top = max(evals, key=lambda r: r["dev_f1"])
            best = {"epoch": top["epoch"], **{k[4:]: v for k, v in top.items() if k.startswith("dev_")}}
        else:
            best = {}
        secs = [float(r["epoch_seconds"]) for r in records if "epoch_seconds" in r]
        return cls(path, config, evals, best, final is not None, secs)

    def dev_predictions(self) -> list[dict[str, Any]]:
        path = self.path / "dev_predictions.json"
        if not path.is_file():
            raise DocreError(f"{path}: not found (the run has not evaluated on a dev set yet)")
        return read_predictions(path)


@dataclass
class RunGroup:
    """One configuration over seeds."""

    name: str
    path: Path
    runs: dict[int, Run]

    @classmethod
    def load(cls, path: str | Path, name: Optional[str] = None) -> "RunGroup":
        path = Path(path)
        if (path / "config.json").is_file():
            run = Run.load(path)
            return cls(name or path.name, path, {run.seed: run})
        if not path.is_dir():
            raise DocreError(f"{path}: no such run directory")
        runs, waiting, unfinished = {}, [], []
        for sub in sorted(path.glob(f"{SEED_PREFIX}*")):
            if (sub / "config.json").is_file():
                if not (sub / "dev_predictions.json").is_file():  # still training: nothing to compare yet
                    waiting.append(sub.name)
                    continue
                run = Run.load(sub)
                if not run.finished:  # its best so far is an early epoch: it would drag the mean down
                    unfinished.append(sub.name)
                    continue
                runs[run.seed] = run
        if waiting:
            logger.warning("%s: %s not evaluated on the dev set yet, left out", path, ", ".join(waiting))
        if unfinished:
            logger.warning("%s: %s still training (or interrupted: the same `docre train --seeds` command resumes "
                           "it), left out", path, ", ".join(unfinished))
        if not runs:
            raise DocreError(f"{path}: neither a run directory (config.json) nor a directory of "
                             f"{SEED_PREFIX}<N>/ runs (docre train --seeds)")
        return cls(name or path.name, path, runs)

    @property
    def seeds(self) -> list[int]:
        return sorted(self.runs)

    def metric(self, key: str) -> list[float]:
        return [float(self.runs[s].best[key]) for s in self.seeds if key in self.runs[s].best]

    def seconds_per_epoch(self) -> list[float]:
        return [float(np.mean(r.epoch_seconds)) for r in self.runs.values() if r.epoch_seconds]


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1; 0 for a single value)."""
    if not values:
        return float("nan"), float("nan")
    arr = np.asarray(values, dtype=float)
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0


def f1_from_counts(counts: np.ndarray) -> np.ndarray:
    """F1 in % from ``[..., 3]`` (predicted, gold, correct) counts; 0/0 is 0."""
    pred, gold, corr = counts[..., 0], counts[..., 1], counts[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(pred > 0, corr / np.maximum(pred, 1), 0.0)
        r = np.where(gold > 0, corr / np.maximum(gold, 1), 0.0)
        f = np.where(p + r > 0, 2 * p * r / np.where(p + r > 0, p + r, 1), 0.0)
    return 100.0 * f


@dataclass
class PairedDifference:
    """``a - b`` over shared seeds: the point estimate, the per-seed differences and the interval."""

    group: str
    seeds: list[int]
    diff: float
    per_seed: list[float]
    low: float
    high: float
    level: float
    samples: int


def paired_bootstrap(counts_a: np.ndarray, counts_b: np.ndarray, samples: int = 2000, level: float = 0.95,
                     seed: int = 0) -> tuple[float, list[float], float, float]:
    """Paired difference of F1 (a - b) with a seed-and-document bootstrap interval.

    Args:
        counts_a, counts_b: ``[S, D, 3]`` per shared seed and per document, the
            (predicted, gold, correct) counts of each configuration.
        samples: bootstrap replicates.
        level: two-sided confidence level of the percentile interval.
        seed: the resampling RNG's seed (results are reproducible).

    Returns:
        (mean over seeds of F1_a - F1_b on all documents, that difference per seed, low, high).
    """
    if counts_a.shape != counts_b.shape:
        raise ValueError(f"counts differ in shape: {counts_a.shape} vs {counts_b.shape}")
    n_seeds, n_docs, _ = counts_a.shape
    per_seed = (f1_from_counts(counts_a.sum(1)) - f1_from_counts(counts_b.sum(1))).tolist()
    rng = np.random.default_rng(seed)
    doc_weights = rng.multinomial(n_docs, np.full(n_docs, 1.0 / n_docs), size=samples)  # [B, D]
    seed_idx = rng.integers(0, n_seeds, size=(samples, n_seeds))  # [B, S]
    tot_a = np.einsum("bd,sdk->bsk", doc_weights, counts_a)  # [B, S, 3] per replicate and seed
    tot_b = np.einsum("bd,sdk->bsk", doc_weights, counts_b)
    diffs = f1_from_counts(tot_a) - f1_from_counts(tot_b)  # [B, S]
    boot = np.take_along_axis(diffs, seed_idx, axis=1).mean(1)  # [B]
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(boot, [alpha, 1.0 - alpha])
    return float(np.mean(per_seed)), per_seed, float(low), float(high)


class _Gold:
    """Gold and training documents of the runs' dev split, read once per (file, range)."""

    def __init__(self, gold_file: Optional[str] = None, gold_range: Optional[str] = None):
        self.override = (gold_file, gold_range)
        self._cache: dict[tuple[str, str], list[Document]] = {}

    def _read(self, path: str, rng: str, labels: bool) -> list[Document]:
        key = (path, rng)
        if key not in self._cache:
            resolved = resolve_data_path(path)
            if not resolved or not Path(resolved).is_file():
                raise DocreError(f"{path}: not found (the run's data file; give --gold FILE when it moved)")
            docs = read_documents(resolved, require_labels=labels)
            self._cache[key] = [docs[i] for i in parse_range(rng, len(docs))]
        return self._cache[key]

    def dev(self, run: Run) -> list[Document]:
        data = run.config.get("data", {})
        path = self.override[0] or data.get("dev_file")
        rng = self.override[1] if self.override[1] is not None else data.get("dev_range", "")
        if not path:
            raise DocreError(f"{run.path}: the run had no dev file; give --gold FILE")
        return self._read(path, rng or "", labels=True)


def seed_counts(run: Run, gold: Sequence[Document], breakdown: str = ALL,
                relation_groups: Optional[dict[str, str]] = None) -> dict[str, np.ndarray]:
    """Per group of ``breakdown``: ``[D, 3]`` (predicted, gold, correct) counts per gold document."""
    per_doc = document_group_counts(run.dev_predictions(), gold, breakdown, relation_groups)
    groups = {g for doc in per_doc.values() for g in doc}
    out = {}
    for g in groups:
        arr = np.zeros((len(gold), 3), dtype=np.int64)
        for i, d in enumerate(gold):
            c = per_doc[d.title].get(g)
            if c is not None:
                arr[i] = (c.predicted, c.gold, c.correct)
        out[g] = arr
    return out


@dataclass
class Comparison:
    """Everything ``docre compare`` prints."""

    groups: list[RunGroup]
    baseline: str
    summary: dict[str, dict[str, tuple[float, float, int]]]  # group -> metric -> (mean, std, n)
    differences: list[PairedDifference]
    breakdowns: dict[str, dict[str, Any]]  # breakdown -> {"groups": [...], "rows": {group: {name: (mean, std)}}, "diff": ...}
    samples: int
    level: float
    e2e_differences: list[dict[str, Any]] = field(default_factory=list)  # strict F1 from text, per shared seed

    def to_json(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline, "samples": self.samples, "level": self.level,
            "groups": {g.name: {"path": str(g.path), "seeds": g.seeds,
                                "metrics": {k: {"mean": m, "std": s, "n": n}
                                            for k, (m, s, n) in self.summary[g.name].items()}}
                       for g in self.groups},
            "differences": [vars(d) for d in self.differences],
            "breakdowns": self.breakdowns,
            "e2e_differences": self.e2e_differences,
        }


def compare_groups(groups: Sequence[RunGroup], baseline: Optional[str] = None, by: Sequence[str] = (),
                   samples: int = 2000, level: float = 0.95, gold_file: Optional[str] = None,
                   gold_range: Optional[str] = None, top_relations: int = 10, seed: int = 0) -> Comparison:
    """Summaries over seeds and paired differences against ``baseline`` (default: the first group).

    The paired difference and the breakdowns use each run's ``dev_predictions.json`` (the best
    dev point) scored against the run's dev split (``--gold`` overrides it).
    """
    names = [g.name for g in groups]
    if len(set(names)) != len(names):
        raise DocreError(f"two groups share a name ({', '.join(names)}); name them NAME=PATH")
    base_name = baseline or names[0]
    if base_name not in names:
        raise DocreError(f"--baseline {base_name!r} is not one of the groups ({', '.join(names)})")
    base = groups[names.index(base_name)]
    summary: dict[str, dict[str, tuple[float, float, int]]] = {}
    for g in groups:
        rows = {}
        for key in SUMMARY_METRICS + ("epoch",) + tuple(E2E_METRICS):
            vals = g.metric(key)
            rows[key] = (*mean_std(vals), len(vals))
        secs = g.seconds_per_epoch()
        rows["seconds_per_epoch"] = (*mean_std(secs), len(secs))
        summary[g.name] = rows

    gold = _Gold(gold_file, gold_range)
    cache: dict[tuple[str, int, str], dict[str, np.ndarray]] = {}

    def counts(g: RunGroup, s: int, breakdown: str) -> dict[str, np.ndarray]:
        key = (g.name, s, breakdown)
        if key not in cache:
            docs = gold.dev(g.runs[s])
            rel = relation_groups_by_frequency(docs, top_relations) if breakdown == "relation" else None
            cache[key] = seed_counts(g.runs[s], docs, breakdown, rel)
        return cache[key]

    differences = []
    for g in groups:
        if g is base:
            continue
        shared = sorted(set(g.seeds) & set(base.seeds))
        if not shared:
            logger.warning("%s and %s share no seed: no paired difference", g.name, base.name)
            continue
        a = np.stack([counts(g, s, ALL).get(ALL, _zeros(gold.dev(g.runs[s]))) for s in shared])
        b = np.stack([counts(base, s, ALL).get(ALL, _zeros(gold.dev(base.runs[s]))) for s in shared])
        _check_same_documents(g, base, shared, gold)
        diff, per_seed, low, high = paired_bootstrap(a, b, samples, level, seed)
        differences.append(PairedDifference(g.name, shared, diff, per_seed, low, high, level, samples))

    tables: dict[str, dict[str, Any]] = {}
    for name in by:
        f1: dict[str, dict[str, tuple[float, float]]] = {}
        gold_totals: dict[str, int] = {}
        for g in groups:
            per_seed = [counts(g, s, name) for s in g.seeds]
            buckets = {b for c in per_seed for b in c}
            for b in buckets:  # every run is scored on the same gold: its counts are the same in each
                gold_totals[b] = max(gold_totals.get(b, 0), *(int(c[b][:, 1].sum()) for c in per_seed if b in c))
            f1[g.name] = {b: mean_std([float(f1_from_counts(c[b].sum(0))) if b in c else 0.0 for c in per_seed])
                          for b in buckets}
        order = group_order(name, gold_totals, gold_totals)
        diffs: dict[str, dict[str, Any]] = {}
        for d in differences:
            g = groups[names.index(d.group)]
            per_bucket = {}
            for b in order:
                a = np.stack([_bucket(counts(g, s, name), b, gold.dev(g.runs[s])) for s in d.seeds])
                c = np.stack([_bucket(counts(base, s, name), b, gold.dev(base.runs[s])) for s in d.seeds])
                diff, _, low, high = paired_bootstrap(a, c, samples, level, seed)
                per_bucket[b] = {"diff": diff, "low": low, "high": high}
            diffs[g.name] = per_bucket
        tables[name] = {"order": order, "gold": {b: gold_totals[b] for b in order},
                        "f1": {g: {b: f1[g].get(b, (0.0, 0.0)) for b in order} for g in f1}, "diff": diffs}
    return Comparison(list(groups), base.name, summary, differences, tables, samples, level,
                      e2e_paired_differences(groups, base))


def e2e_paired_differences(groups: Sequence[RunGroup], base: RunGroup,
                           key: str = "e2e_relation_strict_f1") -> list[dict[str, Any]]:
    """End-to-end runs: ``group - base`` in strict relation F1 from the text on each shared seed and
    their mean (the runs keep no per-document extraction, so no document-level interval)."""
    out = []
    for g in groups:
        if g is base:
            continue
        shared = [s for s in sorted(set(g.seeds) & set(base.seeds))
                  if key in g.runs[s].best and key in base.runs[s].best]
        if shared:
            per = [float(g.runs[s].best[key]) - float(base.runs[s].best[key]) for s in shared]
            out.append({"group": g.name, "seeds": shared, "per_seed": per, "diff": float(np.mean(per))})
    return out


def _zeros(docs: Sequence[Document]) -> np.ndarray:
    return np.zeros((len(docs), 3), dtype=np.int64)


def _bucket(counts: dict[str, np.ndarray], bucket: str, docs: Sequence[Document]) -> np.ndarray:
    return counts[bucket] if bucket in counts else _zeros(docs)


def _check_same_documents(a: RunGroup, b: RunGroup, seeds: Iterable[int], gold: _Gold) -> None:
    for s in seeds:
        ta = [d.title for d in gold.dev(a.runs[s])]
        tb = [d.title for d in gold.dev(b.runs[s])]
        if ta != tb:
            raise DocreError(f"{a.runs[s].path} and {b.runs[s].path} were validated on different documents: "
                             "a paired comparison needs the same dev split")


def format_comparison(cmp: Comparison) -> str:
    """The tables ``docre compare`` prints."""
    width = max(24, *(len(g.name) + 2 for g in cmp.groups))
    labels = {"f1": "F1", "ign_f1": "Ign F1", "precision": "precision", "recall": "recall", "intra_f1": "intra F1",
              "inter_f1": "inter F1", "epoch": "best epoch", "seconds_per_epoch": "s/epoch"}
    lines = [f"{'metric (mean +- std over seeds)':<34}" + "".join(f"{g.name:>{width}}" for g in cmp.groups)]
    lines.append(f"{'seeds':<34}" + "".join(f"{','.join(map(str, g.seeds)):>{width}}" for g in cmp.groups))
    for key, label in labels.items():
        cells = []
        for g in cmp.groups:
            m, s, n = cmp.summary[g.name][key]
            cells.append("-" if n == 0 or math.isnan(m) else f"{m:.2f} +- {s:.2f}")
        lines.append(f"{label:<34}" + "".join(f"{c:>{width}}" for c in cells))
    for key, label in E2E_METRICS.items():
        if any(cmp.summary[g.name][key][2] for g in cmp.groups):
            cells = ["-" if cmp.summary[g.name][key][2] == 0 else "%.2f +- %.2f" % cmp.summary[g.name][key][:2]
                     for g in cmp.groups]
            lines.append(f"{label:<34}" + "".join(f"{c:>{width}}" for c in cells))
    if cmp.differences:
        lines.append("")
        pct = round(100 * cmp.level)
        lines.append(f"paired difference in F1 against {cmp.baseline} (same seeds; {pct}% interval from "
                     f"{cmp.samples} bootstrap resamples of seeds and documents):")
        for d in cmp.differences:
            verdict = "above noise" if d.low > 0 or d.high < 0 else "within noise"
            per = ", ".join(f"{s}: {v:+.2f}" for s, v in zip(d.seeds, d.per_seed))
            lines.append(f"  {d.group} - {cmp.baseline}: {d.diff:+.2f} [{d.low:+.2f}, {d.high:+.2f}]  {verdict}"
                         f"  (per seed {per})")
    for d in cmp.e2e_differences:
        per = ", ".join(f"{s}: {v:+.2f}" for s, v in zip(d["seeds"], d["per_seed"]))
        lines.append(f"  end to end, strict F1: {d['group']} - {cmp.baseline}: {d['diff']:+.2f} (per seed {per})")
    for name, table in cmp.breakdowns.items():
        lines.append("")
        lines.append(f"F1 by {name} (mean +- std over seeds; difference against {cmp.baseline} with its interval):")
        head = f"  {'group':<14}{'gold':>6}" + "".join(f"{g.name:>{width}}" for g in cmp.groups)
        head += "".join(f"{'diff ' + n:>{width + 8}}" for n in table["diff"])
        lines.append(head)
        for b in table["order"]:
            row = f"  {b[:14]:<14}{table['gold'][b]:>6}"
            row += "".join(f"{'%.2f +- %.2f' % table['f1'][g.name][b]:>{width}}" for g in cmp.groups)
            for n, per in table["diff"].items():
                d = per[b]
                row += f"{'%+.2f [%+.2f, %+.2f]' % (d['diff'], d['low'], d['high']):>{width + 8}}"
            lines.append(row)
    return "\n".join(lines)


def parse_group_args(items: Sequence[str]) -> list[RunGroup]:
    """``PATH`` or ``NAME=PATH`` arguments -> loaded groups."""
    out = []
    for item in items:
        name, path = item.split("=", 1) if "=" in item and not Path(item).exists() else (None, item)
        out.append(RunGroup.load(path, name))
    return out


__all__ = ["Run", "RunGroup", "Comparison", "PairedDifference", "compare_groups", "format_comparison",
           "paired_bootstrap", "mean_std", "f1_from_counts", "read_metrics", "parse_group_args", "SEED_PREFIX"]
