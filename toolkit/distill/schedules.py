"""Temperature and loss-weight schedules as plain objects: `value(progress, last_kd_loss) -> float`.

`progress` runs from 0 (first step) to 1 (last step). The loss-adaptive temperature reacts to the distillation
loss of the previous step: doubled when it is above `high`, halved when below `low`, clamped to [0.1, 10].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from toolkit.config import ScheduleSpec

T_MIN, T_MAX = 0.1, 10.0


@dataclass
class Schedule:
    spec: ScheduleSpec
    current: float | None = None

    def value(self, progress: float, last_kd_loss: float | None = None) -> float:
        """The scheduled value at `progress` in [0, 1] (adaptive: after seeing the last KD loss)."""
        s = self.spec
        progress = min(max(progress, 0.0), 1.0)
        if s.kind == "constant":
            return s.start
        if s.kind == "linear":
            return s.start + (s.end - s.start) * progress
        if s.kind == "cosine":
            return s.end + (s.start - s.end) * 0.5 * (1.0 + math.cos(math.pi * progress))
        # adaptive
        if self.current is None:
            self.current = s.start
        if last_kd_loss is not None:
            if last_kd_loss > s.high:
                self.current *= 2.0
            elif last_kd_loss < s.low:
                self.current /= 2.0
            self.current = min(max(self.current, T_MIN), T_MAX)
        return self.current
