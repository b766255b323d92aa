"""Teachers: one protocol (`predict_proba(texts) -> (n, C)`), several kinds, and their ensemble."""

from toolkit.teachers.base import Teacher, build_teacher

__all__ = ["Teacher", "build_teacher"]
