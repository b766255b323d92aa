"""Teachers: one protocol (`predict_proba(texts) -> (n, C)`), several kinds, and their ensemble."""

from toolkit.teachers.base import BaseTeacher, Teacher, build_teacher, register_teacher

__all__ = ["BaseTeacher", "Teacher", "build_teacher", "register_teacher"]
