"""User-facing errors. The CLI prints ``error: <message>`` on one line and exits with status 2."""

from __future__ import annotations


class QlowerError(Exception):
    """A problem with the user's input (model, IR text, inputs, options)."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))  # always one line

    @property
    def message(self) -> str:
        return self.args[0]


class UnsupportedError(QlowerError):
    """The input is valid but uses something qlower does not handle (yet)."""


def one_line(text: str, limit: int = 400) -> str:
    """Collapse whitespace; cut very long third-party messages."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
