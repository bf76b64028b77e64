"""KMGRE's training schedule: warm-up, E/M alternation, tau (docre.training.em, spec 3.5)."""
from __future__ import annotations

import pytest

from docre.config import KMGREConfig
from docre.training.em import EMSchedule


def _schedule(steps_per_epoch: int = 4, total_steps: int = 40, enabled: bool = True, **cfg: object) -> EMSchedule:
    return EMSchedule(KMGREConfig(**cfg), steps_per_epoch=steps_per_epoch, total_steps=total_steps, enabled=enabled)


def test_em_period_zero_alternates_every_epoch_after_warmup() -> None:
    s = _schedule(steps_per_epoch=4, total_steps=28, warmup_epochs=2.0, em_period=0)
    assert s.warmup_steps == 8
    phases = [s.phase(i) for i in range(28)]
    assert phases == ["warmup"] * 8 + ["e"] * 4 + ["m"] * 4 + ["e"] * 4 + ["m"] * 4 + ["e"] * 4


def test_em_period_n_alternates_every_n_steps() -> None:
    s = _schedule(steps_per_epoch=10, total_steps=40, warmup_epochs=0.5, em_period=3)
    assert s.warmup_steps == 5
    assert [s.phase(i) for i in range(5, 20)] == ["e"] * 3 + ["m"] * 3 + ["e"] * 3 + ["m"] * 3 + ["e"] * 3
    assert {s.phase(i) for i in range(5)} == {"warmup"}


def test_em_period_minus_one_is_joint_after_warmup() -> None:
    s = _schedule(steps_per_epoch=4, total_steps=20, warmup_epochs=1.0, em_period=-1)
    assert [s.phase(i) for i in range(20)] == ["warmup"] * 4 + ["joint"] * 16


def test_fractional_warmup_rounds_up_and_zero_warmup_starts_with_e() -> None:
    assert _schedule(steps_per_epoch=4, warmup_epochs=1.5).warmup_steps == 6
    s = _schedule(steps_per_epoch=4, warmup_epochs=0.0, em_period=0)
    assert s.warmup_steps == 0
    assert [s.phase(i) for i in range(8)] == ["e"] * 4 + ["m"] * 4


def test_disabled_schedule_is_joint_everywhere() -> None:
    s = _schedule(steps_per_epoch=4, total_steps=20, enabled=False, warmup_epochs=2.0, em_period=0)
    assert s.warmup_steps == 0
    assert {s.phase(i) for i in range(20)} == {"joint"}


def test_tau_rises_linearly_over_the_em_phase() -> None:
    # warm-up 8 steps, EM phase 32 steps: tau goes 0.5 -> 0.9 by 0.4 / 32 = 0.0125 per step
    s = _schedule(steps_per_epoch=4, total_steps=40, warmup_epochs=2.0, tau_start=0.5, tau_end=0.9,
                  tau_schedule="linear")
    assert [s.tau(i) for i in (0, 4, 7)] == [pytest.approx(0.5)] * 3  # flat during warm-up
    assert s.tau(8) == pytest.approx(0.5)
    assert s.tau(9) == pytest.approx(0.5125)
    assert s.tau(24) == pytest.approx(0.7)  # half way through the EM phase
    assert s.tau(40) == pytest.approx(0.9)
    assert s.tau(100) == pytest.approx(0.9)  # clamped past the end
    taus = [s.tau(i) for i in range(8, 41)]
    steps = [b - a for a, b in zip(taus, taus[1:])]
    assert all(d == pytest.approx(0.0125) for d in steps)


def test_tau_constant_and_cosine_schedules() -> None:
    const = _schedule(total_steps=40, warmup_epochs=2.0, tau_start=0.6, tau_end=0.9, tau_schedule="constant")
    assert {round(const.tau(i), 9) for i in range(0, 41, 5)} == {0.6}
    cos = _schedule(total_steps=40, warmup_epochs=2.0, tau_start=0.5, tau_end=0.9, tau_schedule="cosine")
    assert cos.tau(8) == pytest.approx(0.5) and cos.tau(40) == pytest.approx(0.9)
    assert cos.tau(24) == pytest.approx(0.7)  # half of a half cosine
    assert cos.tau(12) < 0.5 + 0.4 * 4 / 32  # slower than linear at the start


def test_warmup_longer_than_training_never_alternates() -> None:
    s = _schedule(steps_per_epoch=4, total_steps=8, warmup_epochs=3.0, em_period=0)
    assert s.warmup_steps == 12
    assert {s.phase(i) for i in range(8)} == {"warmup"}
