"""Errors caused by the user's input. The CLI prints them as one line (plus a hint) and exits with code 2."""

from __future__ import annotations


class UserInputError(Exception):
    """Bad input that the user can fix: the message names the file, key, row or column and what is allowed."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        # a notebook or a traceback shows only str(error): the hint must travel with it
        return f"{self.message}\nhint: {self.hint}" if self.hint else self.message


class ConfigError(UserInputError):
    """A pack.yaml or run override with a missing, unknown or out-of-range key."""


class DataError(UserInputError):
    """A data file that is missing, unreadable or breaks the pack's data contract."""
