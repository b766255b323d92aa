"""Temperature and α schedules: constant, linear, cosine and loss-adaptive."""

from __future__ import annotations

import pytest

from toolkit.config import ScheduleSpec
from toolkit.distill.schedules import Schedule


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("constant", [3.0, 3.0, 3.0]),
        ("linear", [3.0, 1.75, 0.5]),
        ("cosine", [3.0, 1.75, 0.5]),
    ],
)
def test_scheduled_values_at_start_middle_end(kind: str, expected: list[float]) -> None:
    schedule = Schedule(ScheduleSpec(kind=kind, start=3.0, end=0.5))
    assert [schedule.value(p) for p in (0.0, 0.5, 1.0)] == pytest.approx(expected)


def test_cosine_falls_slowly_at_first() -> None:
    cosine, linear = (
        Schedule(ScheduleSpec(kind="cosine", start=3.0, end=0.5)),
        Schedule(ScheduleSpec(kind="linear", start=3.0, end=0.5)),
    )
    assert cosine.value(0.25) > linear.value(0.25)


def test_adaptive_temperature_doubles_halves_and_clamps() -> None:
    schedule = Schedule(ScheduleSpec(kind="adaptive", start=2.0, high=1.0, low=0.1))
    assert schedule.value(0.0) == 2.0
    assert schedule.value(0.1, last_kd_loss=1.5) == 4.0  # loss high: soften more
    assert schedule.value(0.2, last_kd_loss=0.5) == 4.0  # in between: keep
    assert schedule.value(0.3, last_kd_loss=0.01) == 2.0  # loss low: sharpen
    for _ in range(10):
        schedule.value(0.4, last_kd_loss=5.0)
    assert schedule.value(0.5) == 10.0  # clamped
    for _ in range(20):
        schedule.value(0.6, last_kd_loss=0.0)
    assert schedule.value(0.7) == 0.1
