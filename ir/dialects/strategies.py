"""Which ops take a ``strategy`` attribute, and its values: the quantum lowerings of each op
kind beyond dense layers (``passes/lower_quantum.py`` registers one function per pair) plus
``host``. ``select-strategy`` writes the attribute where an override names the op; the verifier
refuses any other value.
"""

from __future__ import annotations

from qlower.ir.opdef import ABSENT, Attr, op_def

STRATEGY_CHOICES: dict[str, tuple[str, ...]] = {
    "nn.softmax": ("exact", "qsp", "host"),
    "nn.attention": ("quantum", "qsp", "host"),
    "nn.layer_norm": ("quantum", "dense", "host"),
    "nn.add": ("quantum", "host"),
    "nn.gelu": ("qsvt", "host"),
    "nn.relu": ("qsvt", "host"),
    "nn.tanh": ("qsvt", "host"),
    "nn.sigmoid": ("qsvt", "host"),
    "nn.mse_loss": ("quantum", "swap-test", "host"),
    "nn.cross_entropy": ("quantum", "host"),
    "nn.nll_loss": ("quantum", "host"),
}


def _add_strategy_attrs() -> None:
    for name, choices in STRATEGY_CHOICES.items():
        d = op_def(name)
        type(d).attrs = {**type(d).attrs, "strategy": Attr("str", ABSENT, choices=choices)}


_add_strategy_attrs()
