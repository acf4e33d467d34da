"""A table of named entries, filled by the modules that define them: what the block-encoding
and state-preparation registries share (``registry.py``, ``prep_registry.py``)."""

from __future__ import annotations

import importlib


class Entries:
    """Entries by name, in the order of ``modules`` (the modules that register them, imported
    on first lookup); ``kind`` names them in messages."""

    def __init__(self, kind: str, modules: tuple[str, ...], registered_as: str | None = None,
                 reserved: tuple[str, ...] = ()):
        self.kind, self.modules, self.reserved = kind, modules, reserved
        self.registered_as = registered_as or kind
        self._table: dict = {}
        self._loaded = False

    def register(self, cls):
        """Class decorator: add an instance of ``cls`` under ``cls.name`` (one per name)."""
        if not cls.name or cls.name in self._table or cls.name in self.reserved:
            what = "unnamed, reserved or registered twice" if self.reserved else \
                "unnamed or registered twice"
            raise ValueError(f"{self.registered_as} method {cls.name!r} is {what}")
        self._table[cls.name] = cls()
        return cls

    def all(self) -> dict:
        """Every entry, name → entry, in ``modules`` order."""
        if not self._loaded:
            self._loaded = True
            for module in self.modules:
                importlib.import_module(f"qlower.blocks.{module}")
        order = [n for n in self.modules if n in self._table]
        return {name: self._table[name] for name in order} | self._table

    def names(self) -> tuple[str, ...]:
        return tuple(self.all())

    def get(self, name: str):
        """The entry called ``name``; ValueError naming the choices otherwise."""
        table = self.all()
        if name not in table:
            raise ValueError(f"unknown {self.kind} method {name!r}; use one of "
                             f"{', '.join(table)} or 'auto'")
        return table[name]
