"""Building blocks: state preparations and block encodings as Cirq circuits.

``from qlower.blocks import amplitude_encoding, block_encoding``: each returns a :class:`Block`
with ``.circuit`` (a ``cirq.Circuit``, every parameter resolved unless built symbolically),
``.alpha``, ``.registers`` (input, output and flag qubits) and ``.resources()``.

The names below are imported on first use, so that ``qlower.blocks.layout`` (register sizes,
asked by the IR's type inference) loads without Cirq.
"""

import importlib
import sys
import types

_EXPORTS = {
    "AmplitudeEncoding": "amplitude", "ZeroVectorError": "amplitude",
    "amplitude_encoding": "amplitude",
    "Block": "base", "Registers": "base", "readout": "base",
    "BlockEncoding": "block_encoding", "block_encoding": "block_encoding",
    "choose_method": "block_encoding",
    "Resources": "circuits", "count_resources": "circuits",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'qlower.blocks' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"qlower.blocks.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


class _Package(types.ModuleType):
    """Importing the submodule ``block_encoding`` must not hide the function of that name
    (the import system sets a package attribute for each submodule it loads)."""

    def __setattr__(self, name, value):
        if (name in _EXPORTS and isinstance(value, types.ModuleType)
                and value.__name__ == f"{__name__}.{name}"):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
