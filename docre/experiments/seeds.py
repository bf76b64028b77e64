"""One configuration trained with several seeds: ``docre train --config C --seeds 66,2,7``.

Each seed gets its own run directory ``<train.output_dir>/seed<N>/`` (a complete run:
config, metrics, best model, predictions, environment). Running the same command again
skips the seeds that finished and resumes the ones that were interrupted, so a long
multi-seed study survives a reboot. ``--jobs N`` trains N seeds at once in separate
processes (CPU threads are split between them when ``train.num_threads`` is 0).
"""
from __future__ import annotations

import copy
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from docre.config import Config
from docre.errors import ConfigError, DocreError
from docre.experiments.compare import SEED_PREFIX, Run, RunGroup
from docre.utils.io import atomic_write_json

logger = logging.getLogger("docre")


def parse_seeds(spec: str) -> list[int]:
    """``"66,2,7"`` -> [66, 2, 7] (distinct integers, order kept)."""
    try:
        seeds = [int(s) for s in spec.split(",") if s.strip()]
    except ValueError as exc:
        raise ConfigError(f"--seeds {spec!r}: give comma-separated integers, e.g. 66,2,7") from exc
    if not seeds:
        raise ConfigError("--seeds: no seed given")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds {spec!r}: a seed is repeated")
    return seeds


def seed_run_dir(base: str | Path, seed: int) -> Path:
    return Path(base) / f"{SEED_PREFIX}{seed}"


def run_state(run_dir: Path) -> str:
    """``done`` (finished: its final record is written), ``resume`` (a checkpoint to continue
    from) or ``new``."""
    if (run_dir / "metrics.jsonl").is_file() and (run_dir / "config.json").is_file():
        try:
            if Run.load(run_dir).finished:
                return "done"
        except DocreError:
            pass
    if (run_dir / "checkpoint").is_dir() and (run_dir / "config.json").is_file():
        return "resume"
    return "new"


def seed_config(config: Config, seed: int, threads: Optional[int] = None) -> Config:
    """The config of one seed: ``train.seed`` and ``train.output_dir`` set (and threads when given)."""
    cfg = copy.deepcopy(config)
    cfg.train.seed = seed
    cfg.train.output_dir = str(seed_run_dir(config.train.output_dir, seed))
    if threads is not None:
        cfg.train.num_threads = threads
    return cfg


@dataclass
class SeedOutcome:
    seed: int
    run_dir: Path
    state: str  # what was done: trained | resumed | skipped (already done) | failed
    message: str = ""


def train_seeds(config: Config, seeds: Sequence[int], jobs: int = 1, encoder_config: Any = None
                ) -> list[SeedOutcome]:
    """Train ``config`` once per seed (finished seeds skipped, interrupted ones resumed).

    ``jobs > 1`` runs seeds in parallel subprocesses (``python -m docre train``), each logging
    to ``<output_dir>/seed<N>.log``; ``encoder_config`` (tests: an untrained tiny encoder) is
    only possible in-process (``jobs = 1``).
    """
    from docre.training import train

    if jobs < 1:
        raise ConfigError(f"--jobs {jobs}: must be >= 1")
    if jobs > 1 and encoder_config is not None:
        raise ConfigError("--jobs > 1 runs seeds in subprocesses; an in-memory encoder needs jobs = 1")
    base = Path(config.train.output_dir)
    outcomes: list[SeedOutcome] = []
    todo = []
    for s in seeds:
        state = run_state(seed_run_dir(base, s))
        if state == "done":
            logger.info("seed %d: finished before (%s), skipped", s, seed_run_dir(base, s))
            outcomes.append(SeedOutcome(s, seed_run_dir(base, s), "skipped"))
        else:
            todo.append((s, state))
    if jobs == 1:
        for s, state in todo:
            cfg = seed_config(config, s)
            logger.info("seed %d: %s %s", s, "resuming" if state == "resume" else "training", cfg.train.output_dir)
            train(cfg, encoder_config=encoder_config, resume=state == "resume")
            outcomes.append(SeedOutcome(s, Path(cfg.train.output_dir), "resumed" if state == "resume" else "trained"))
        return sorted(outcomes, key=lambda o: seeds.index(o.seed))
    threads = config.train.num_threads or max(1, (os.cpu_count() or 1) // min(jobs, len(todo) or 1))
    running: list[tuple[int, str, subprocess.Popen, Any]] = []
    queue = list(todo)
    base.mkdir(parents=True, exist_ok=True)
    while queue or running:
        while queue and len(running) < jobs:
            s, state = queue.pop(0)
            cfg = seed_config(config, s, threads)
            run_dir = Path(cfg.train.output_dir)
            if state == "resume":
                argv = ["train", "--resume", str(run_dir)]
            else:
                cfg_file = base / f".{SEED_PREFIX}{s}.config.json"
                atomic_write_json(cfg_file, cfg.to_dict())
                argv = ["train", "--config", str(cfg_file)]
            log = open(base / f"{SEED_PREFIX}{s}.log", "a", encoding="utf-8")
            logger.info("seed %d: %s in a subprocess (%d threads), log %s", s,
                        "resuming" if state == "resume" else "training", threads, log.name)
            proc = subprocess.Popen([sys.executable, "-m", "docre", *argv], stdout=log, stderr=subprocess.STDOUT)
            running.append((s, state, proc, log))
        time.sleep(0.5)
        for item in list(running):
            s, state, proc, log = item
            if proc.poll() is None:
                continue
            running.remove(item)
            log.close()
            done = "resumed" if state == "resume" else "trained"
            if proc.returncode != 0:
                tail = Path(log.name).read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:]
                outcomes.append(SeedOutcome(s, seed_run_dir(base, s), "failed",
                                            f"exit {proc.returncode}: {tail[0] if tail else ''}"))
            else:
                outcomes.append(SeedOutcome(s, seed_run_dir(base, s), done))
            cfg_file = base / f".{SEED_PREFIX}{s}.config.json"
            if cfg_file.exists():
                cfg_file.unlink()
    return sorted(outcomes, key=lambda o: seeds.index(o.seed))


def summary_group(config: Config) -> RunGroup:
    """The finished seeds of ``config``'s output directory as a group (for the summary)."""
    return RunGroup.load(config.train.output_dir)


__all__ = ["parse_seeds", "seed_run_dir", "seed_config", "train_seeds", "run_state", "SeedOutcome"]
