"""Runs over seeds (docre train --seeds) and their comparison (docre compare)."""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from docre.cli import main
from docre.experiments.compare import (RunGroup, compare_groups, f1_from_counts, format_comparison, mean_std,
                                       paired_bootstrap)
from docre.experiments.seeds import parse_seeds, run_state, train_seeds
from docre.errors import ConfigError

FIXTURE = Path(__file__).parents[1] / "fixtures" / "docs.json"

pytestmark = pytest.mark.usefixtures("one_thread")


def test_f1_from_counts_and_mean_std_by_hand():
    counts = np.array([[4, 5, 2], [0, 0, 0], [3, 0, 0]])  # P 0.5 R 0.4 -> 44.44; 0/0 -> 0; no gold -> 0
    assert f1_from_counts(counts).round(2).tolist() == [44.44, 0.0, 0.0]
    assert mean_std([40.0, 42.0, 44.0]) == (42.0, 2.0)
    assert mean_std([41.5]) == (41.5, 0.0)


def test_paired_bootstrap_of_identical_runs_is_zero_and_of_a_better_run_is_above_noise():
    rng = np.random.default_rng(1)
    gold = rng.integers(1, 6, size=(3, 50))
    pred = rng.integers(0, 6, size=(3, 50))
    corr = np.minimum(gold, pred) // 2
    a = np.stack([pred, gold, corr], -1)
    diff, per_seed, low, high = paired_bootstrap(a, a.copy(), samples=500)
    assert diff == 0.0 and per_seed == [0.0, 0.0, 0.0] and low == 0.0 and high == 0.0
    better = np.stack([pred, gold, np.minimum(gold, pred)], -1)  # more correct on every document
    diff, per_seed, low, high = paired_bootstrap(better, a, samples=500)
    expected = [float(f1_from_counts(better[s].sum(0)) - f1_from_counts(a[s].sum(0))) for s in range(3)]
    assert per_seed == pytest.approx(expected) and diff == pytest.approx(np.mean(expected))
    assert 0 < low < diff < high


def test_parse_seeds():
    assert parse_seeds("66,2, 7") == [66, 2, 7]
    for bad in ("66,x", "", "2,2"):
        with pytest.raises(ConfigError):
            parse_seeds(bad)


@pytest.fixture(scope="module")
def seed_groups(tiny_encoder_dir, tmp_path_factory):
    """Two configurations (ATLOP at two learning rates), each trained with seeds 1 and 2."""
    from conftest import tiny_config

    root = tmp_path_factory.mktemp("seeds")
    out = {}
    for name, lr in (("fast", 3e-3), ("slow", 1e-5)):
        cfg = tiny_config(tiny_encoder_dir, root / name, FIXTURE, **{
            "train.epochs": 6, "train.lr_encoder": lr, "train.lr_new": lr, "train.num_threads": 1})
        outcomes = train_seeds(cfg, [1, 2])
        assert [(o.seed, o.state) for o in outcomes] == [(1, "trained"), (2, "trained")]
        out[name] = cfg
    return root, out


def test_train_seeds_writes_one_run_per_seed_and_skips_finished_ones(seed_groups):
    root, cfgs = seed_groups
    for s in (1, 2):
        run = root / "fast" / f"seed{s}"
        assert json.loads((run / "config.json").read_text())["train"]["seed"] == s
        assert (run / "best_model" / "model.safetensors").is_file() and run_state(run) == "done"
    a = json.loads((root / "fast" / "seed1" / "dev_predictions.json").read_text())
    b = json.loads((root / "fast" / "seed2" / "dev_predictions.json").read_text())
    m1 = (root / "fast" / "seed1" / "metrics.jsonl").read_text()
    m2 = (root / "fast" / "seed2" / "metrics.jsonl").read_text()
    assert m1 != m2 or a != b  # different seeds, different runs
    before = m1
    assert [o.state for o in train_seeds(cfgs["fast"], [1, 2])] == ["skipped", "skipped"]
    assert (root / "fast" / "seed1" / "metrics.jsonl").read_text() == before


def test_compare_groups_summarises_seeds_and_pairs_them(seed_groups):
    root, _ = seed_groups
    fast, slow = RunGroup.load(root / "fast"), RunGroup.load(root / "slow")
    assert fast.seeds == [1, 2] and fast.name == "fast"
    cmp = compare_groups([slow, fast], by=["mention_pairs"], samples=300)
    f1s = [json.loads(line)["best_f1"] for s in (1, 2)
           for line in (root / "fast" / f"seed{s}" / "metrics.jsonl").read_text().splitlines() if "best_f1" in line]
    mean, std, n = cmp.summary["fast"]["f1"]
    assert n == 2 and mean == pytest.approx(np.mean(f1s)) and std == pytest.approx(np.std(f1s, ddof=1))
    (d,) = cmp.differences
    assert d.group == "fast" and d.seeds == [1, 2]
    # the point estimate recomputed from dev predictions equals the difference of the logged best F1s
    slow_f1 = [cmp_f1 for cmp_f1 in slow.metric("f1")]
    assert d.per_seed == pytest.approx([f - g for f, g in zip(fast.metric("f1"), slow_f1)], abs=1e-6)
    assert d.low <= d.diff <= d.high
    table = cmp.breakdowns["mention_pairs"]
    assert table["order"] == ["1", "2-3", "4-8"] and sum(table["gold"].values()) == 7
    text = format_comparison(cmp)
    assert "paired difference in F1 against slow" in text and "fast - slow" in text and "F1 by mention_pairs" in text
    same = compare_groups([fast, RunGroup.load(root / "fast", name="again")], samples=200)
    assert same.differences[0].diff == 0.0 and same.differences[0].low == same.differences[0].high == 0.0


def test_a_seed_still_training_is_left_out_with_a_warning(seed_groups, tmp_path, caplog):
    root, _ = seed_groups
    group = tmp_path / "group"
    shutil.copytree(root / "fast", group)
    (group / "seed3").mkdir()  # a seed that has started but not evaluated yet
    shutil.copy(group / "seed1" / "config.json", group / "seed3" / "config.json")
    with caplog.at_level(logging.WARNING, logger="docre"):
        loaded = RunGroup.load(group)
    assert loaded.seeds == [1, 2]
    assert "seed3 not evaluated on the dev set yet" in caplog.text


def test_a_seed_evaluated_but_not_finished_is_left_out(seed_groups, tmp_path, caplog):
    root, _ = seed_groups
    group = tmp_path / "group"
    shutil.copytree(root / "fast", group)
    metrics = group / "seed2" / "metrics.jsonl"
    lines = [ln for ln in metrics.read_text().splitlines() if "best_epoch" not in ln]  # killed before the end
    metrics.write_text("\n".join(lines) + "\n")
    with caplog.at_level(logging.WARNING, logger="docre"):
        loaded = RunGroup.load(group)
    assert loaded.seeds == [1]
    assert "seed2 still training" in caplog.text
    assert RunGroup.load(group / "seed2").seeds == [2]  # named on its own, a run is still read


def test_cli_compare_prints_and_writes_json(seed_groups, tmp_path, capsys):
    root, _ = seed_groups
    out = tmp_path / "cmp.json"
    assert main(["compare", f"A={root / 'slow'}", f"B={root / 'fast'}", "--samples", "200", "--by", "sentence",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "B - A" in printed and "intra" in printed
    saved = json.loads(out.read_text())
    assert saved["baseline"] == "A" and saved["groups"]["B"]["seeds"] == [1, 2]
    assert main(["compare", str(tmp_path / "nothing")]) == 2


def test_seeds_in_parallel_subprocesses_resume_an_interrupted_seed(tiny_encoder_dir, tmp_path, capsys):
    """--jobs 2 trains seeds in subprocesses; a seed left with a checkpoint is resumed, a finished one skipped."""
    from conftest import tiny_config

    cfg = tiny_config(tiny_encoder_dir, tmp_path / "g", FIXTURE, **{"train.epochs": 2, "train.num_threads": 1,
                                                                     "train.keep_checkpoint": True})
    assert [o.state for o in train_seeds(cfg, [5])] == ["trained"]
    # seed 5 looks interrupted: drop its final record (a checkpoint is kept)
    metrics = tmp_path / "g" / "seed5" / "metrics.jsonl"
    lines = [ln for ln in metrics.read_text().splitlines() if "best_epoch" not in ln]
    metrics.write_text("\n".join(lines) + "\n")
    assert run_state(tmp_path / "g" / "seed5") == "resume"
    rc = main(["train", "--config", str(_write_config(cfg, tmp_path)), "--seeds", "5,6", "--jobs", "2"])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert "seed 5: resumed" in printed and "seed 6: trained" in printed
    assert run_state(tmp_path / "g" / "seed5") == "done" and run_state(tmp_path / "g" / "seed6") == "done"
    assert (tmp_path / "g" / "seed6.log").is_file()
    assert "metric (mean +- std over seeds)" in printed


def _write_config(cfg, tmp_path: Path) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg.to_dict()), encoding="utf-8")
    return path


def test_compare_shows_end_to_end_scores_and_their_paired_difference(seed_groups, tmp_path):
    """End-to-end runs: mean +- std of the dev scores from the text, and the strict F1 difference per seed."""
    root, _ = seed_groups
    strict = {("a", 1): 20.0, ("a", 2): 22.0, ("b", 1): 23.5, ("b", 2): 23.0}
    for name, src in (("a", "fast"), ("b", "slow")):
        shutil.copytree(root / src, tmp_path / name)
        for s in (1, 2):
            path = tmp_path / name / f"seed{s}" / "metrics.jsonl"
            lines = path.read_text().splitlines()
            final = json.loads(lines[-1])
            assert "best_epoch" in final
            final.update({"best_e2e_mention_f1": 80.0 + s, "best_e2e_coref_f1": 70.0, "best_e2e_entity_f1": 60.0,
                          "best_e2e_relation_strict_f1": strict[name, s]})
            path.write_text("\n".join(lines[:-1] + [json.dumps(final)]) + "\n")
    groups = [RunGroup.load(tmp_path / "a", "a"), RunGroup.load(tmp_path / "b", "b")]
    cmp = compare_groups(groups, samples=200)
    assert cmp.summary["a"]["e2e_relation_strict_f1"][:2] == pytest.approx((21.0, 2 ** 0.5))
    assert cmp.summary["b"]["e2e_mention_f1"][:2] == pytest.approx((81.5, 0.5 ** 0.5))
    (d,) = cmp.e2e_differences
    assert d["group"] == "b" and d["seeds"] == [1, 2] and d["per_seed"] == pytest.approx([3.5, 1.0])
    assert d["diff"] == pytest.approx(2.25)
    text = format_comparison(cmp)
    assert "end to end: strict F1" in text and "21.00 +- 1.41" in text
    assert "end to end, strict F1: b - a: +2.25 (per seed 1: +3.50, 2: +1.00)" in text
    assert json.loads(json.dumps(cmp.to_json()))["e2e_differences"][0]["diff"] == pytest.approx(2.25)
