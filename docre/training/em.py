"""KMGRE's training schedule (spec 3.5): warm-up, then E/M alternation, and the tau schedule.

Phases a training step can be in:

- ``joint``: the head's full loss (ATLOP; KMGRE with ``em_period = -1``: L_theta + L_omega).
- ``warmup``: KMGRE warm-up (theta at entity level or with K = all mention pairs, and omega on
  E-step pseudo labels).
- ``e``: E-step, only L_omega (updates omega).
- ``m``: M-step, only L_theta on fused key pairs (updates theta).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from docre.config import KMGREConfig
from docre.models.key_pairs import tau_at


@dataclass
class EMSchedule:
    """Which phase each optimisation step belongs to, and tau at that step.

    Args:
        cfg: the ``kmgre`` config section.
        steps_per_epoch: optimisation steps per epoch.
        total_steps: all optimisation steps of the run.
        enabled: False for heads without EM (every step is ``joint``).
    """

    cfg: KMGREConfig
    steps_per_epoch: int
    total_steps: int
    enabled: bool = True

    @property
    def warmup_steps(self) -> int:
        return int(math.ceil(self.cfg.warmup_epochs * self.steps_per_epoch)) if self.enabled else 0

    def phase(self, step: int) -> str:
        """Phase of optimisation step ``step`` (0-based)."""
        if not self.enabled:
            return "joint"
        if step < self.warmup_steps:
            return "warmup"
        period = self.cfg.em_period
        if period < 0:
            return "joint"
        into = step - self.warmup_steps
        length = self.steps_per_epoch if period == 0 else period
        return "e" if (into // max(1, length)) % 2 == 0 else "m"

    def tau(self, step: int) -> float:
        """tau rises over the EM phase (after warm-up) from tau_start to tau_end."""
        em_steps = max(1, self.total_steps - self.warmup_steps)
        return tau_at(max(0, step - self.warmup_steps), em_steps, self.cfg.tau_start, self.cfg.tau_end,
                      self.cfg.tau_schedule)
