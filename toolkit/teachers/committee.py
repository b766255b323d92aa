"""The fitted teachers and their ensemble rule as one labeler of new inputs (generated samples, candidate pools)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from toolkit.teachers.base import Teacher
from toolkit.teachers.cache import TeacherCache
from toolkit.teachers.ensemble import EnsembleRule
from toolkit.teachers.labeling import label_texts


class Committee:
    """Asks every teacher (through the cache, so a text is labeled once per teacher) and combines their answers."""

    def __init__(self, teachers: Sequence[Teacher], rule: EnsembleRule, cache: TeacherCache):
        self.teachers = list(teachers)
        self.rule = rule
        self.cache = cache

    def predict_proba(self, texts: Sequence[str], rows: pd.DataFrame | None = None) -> np.ndarray:
        texts = list(texts)
        per_teacher = [label_texts(t, texts, self.cache, rows=rows, show_progress=False)[0] for t in self.teachers]
        return self.rule.combine(per_teacher)
