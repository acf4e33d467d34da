"""User-facing errors. The CLI prints ``error: <message>`` on one line and exits with status 2.

Every message names the file it is about: loaders put the path first themselves; errors
raised later (while running passes, compiling, simulating) are named by :func:`about`, which
the CLI and the file-taking API functions wrap around their work.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class QlowerError(Exception):
    """A problem with the user's input (model, IR text, inputs, options)."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))  # always one line

    @property
    def message(self) -> str:
        return self.args[0]


class UnsupportedError(QlowerError):
    """The input is valid but uses something qlower does not handle (yet)."""


class InputError(QlowerError):
    """The input arrays do not fit the model (names, dtypes, shapes, values).

    :func:`about` names the inputs file in these, not the model.
    """


class OptionError(QlowerError):
    """Options that cannot work together; the message names the options, not a file."""


def one_line(text: str, limit: int = 400) -> str:
    """Collapse whitespace; cut very long third-party messages."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def names_file(message: str, path: str) -> bool:
    """Whether ``message`` names ``path`` as a word of its own (not inside another word)."""
    return re.search(rf"(^|[\s('\"]){re.escape(path)}($|[\s:)'\",;])", message) is not None


@contextmanager
def about(model: str | Path, *others: str | Path | None,
          inputs: str | Path | None = None) -> Iterator[None]:
    """Name the file a QlowerError raised inside is about, unless its message names one.

    An :class:`InputError` is about ``inputs`` (when given), every other error about
    ``model``; ``others`` are further files of the command (weights, outputs) that a message
    may name instead. :class:`OptionError` is left as it is.
    """
    try:
        yield
    except OptionError:
        raise
    except QlowerError as e:
        files = [str(f) for f in (model, inputs, *others) if f is not None]
        if not any(names_file(e.message, f) for f in files):
            target = inputs if isinstance(e, InputError) and inputs is not None else model
            e.args = (f"{target}: {e.message}",)
        raise
