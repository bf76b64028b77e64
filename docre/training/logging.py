"""Run logging: console + ``metrics.jsonl`` always; wandb only when enabled (imported then)."""
from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Optional

from docre.config import LoggingConfig

logger = logging.getLogger("docre")


class RunLogger:
    """Appends one JSON line per record to ``<run_dir>/metrics.jsonl`` and mirrors to wandb."""

    def __init__(self, run_dir: Path, cfg: LoggingConfig, config_dict: dict[str, Any], resume: bool = False):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.run_dir / "metrics.jsonl"
        self._fh = open(self.path, "a" if resume else "w", encoding="utf-8")
        self._wandb: Optional[Any] = None
        self._t0 = time.time()
        if cfg.wandb != "disabled":
            os.environ.setdefault("WANDB_SILENT", "true")
            try:
                import wandb  # noqa: WPS433 (optional integration)
            except ImportError:
                logger.warning("logging.wandb=%s but wandb is not installed; logging to metrics.jsonl only",
                               cfg.wandb)
            else:
                self._wandb = wandb.init(project=cfg.project, name=cfg.run_name or self.run_dir.name,
                                         dir=str(self.run_dir), mode=cfg.wandb, config=config_dict,
                                         resume="allow" if resume else None)

    def log(self, record: dict[str, Any], step: int, console: bool = False) -> None:
        rec = {"step": step, "time": round(time.time() - self._t0, 2), **record}
        self._fh.write(json.dumps(rec) + "\n")
        self._fh.flush()
        if self._wandb is not None:
            self._wandb.log({k: v for k, v in record.items() if isinstance(v, (int, float))}, step=step)
        if console:
            logger.info(" ".join(f"{k}={_fmt(v)}" for k, v in rec.items()))

    def close(self) -> None:
        self._fh.close()
        if self._wandb is not None:
            self._wandb.finish()
            self._wandb = None


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


class NullRunLogger:
    """What the other processes of a data-parallel run log: nothing (the main process writes
    ``metrics.jsonl`` and wandb)."""

    def log(self, record: dict[str, Any], step: int, console: bool = False) -> None:
        pass

    def close(self) -> None:
        pass
