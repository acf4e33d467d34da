"""Cirq JSON of a circuit, written a moment at a time from an operation table.

``write_circuit_json(out, table)`` writes what ``cirq.to_json(table.circuit())`` returns (the
packed circuit of ``qlower.blocks.optable.OpTable.operations``, JSON indented by 2) without
building the circuit or its JSON tree: moments come from :meth:`OpTable.layers`, and each
typed row on a ``LineQubit`` is formatted from a template that Cirq's own encoder printed for
a sample operation of its kind (the sample's numbers replaced by fields). Other rows are
encoded by Cirq one operation at a time. The layout is checked once against ``cirq.to_json``
on a sample circuit of every row kind; if this Cirq writes it differently, the whole circuit
is encoded by ``cirq.to_json`` instead.
"""

from __future__ import annotations

import functools
import json

import numpy as np

from qlower.blocks import optable as ot

__all__ = ["write_circuit_json"]

_CHUNK = 1 << 15
_OP_INDENT = " " * 8  # Circuit > "moments" > Moment > "operations" > operation
_HEAD = '{\n  "cirq_type": "Circuit",\n  "moments": ['
_MOMENT_OPEN = '    {\n      "cirq_type": "Moment",\n      "operations": [\n'
_MOMENT_CLOSE = "\n      ]\n    }"
_FLOATS = ("0.1234567890123", "0.2345678901234", "0.3456789012345")
_INTS = ("987654", "876543")
_NAME = "zzsentinel_0"


def _encode(op) -> str:
    import cirq

    text = cirq.to_json(op)  # indented by 2, Cirq's encoder
    return "\n".join(_OP_INDENT + line for line in text.split("\n"))


def _template(op, floats: int, ints: int, name: bool = False) -> str | None:
    """``op``'s indented JSON with its sentinel numbers as ``str.format`` fields."""
    text = _encode(op).replace("{", "{{").replace("}", "}}")
    fields = [*(_FLOATS[:floats]), *(_INTS[:ints])] + ([json.dumps(_NAME)] if name else [])
    for i, f in enumerate(fields):
        if text.count(f) != 1:
            return None
        text = text.replace(f, "{" + str(i) + "}")
    return text


@functools.lru_cache(maxsize=1)
def _templates() -> dict | None:
    """Row kind → template, or None where this Cirq's layout is not the one assumed."""
    import cirq
    import sympy

    a, b = (cirq.LineQubit(int(x)) for x in _INTS)
    f = [float(x) for x in _FLOATS]
    out = {
        ot.H: _template(cirq.H(a), 0, 1),
        ot.CX: _template(cirq.CNOT(a, b), 0, 2),
        ot.CZ: _template(cirq.CZ(a, b), 0, 2),
        ot.RY: _template(cirq.Ry(rads=f[0])(a), 1, 1),
        ot.RZ: _template(cirq.Rz(rads=f[0])(a), 1, 1),
        ot.RY_SYM: _template(cirq.Ry(rads=sympy.Symbol(_NAME))(a), 0, 1, True),
        ot.RZ_SYM: _template(cirq.Rz(rads=sympy.Symbol(_NAME))(a), 0, 1, True),
        ot.PXZ: _template(cirq.PhasedXZGate(x_exponent=f[0], z_exponent=f[1],
                                            axis_phase_exponent=f[2])(a), 3, 1),
    }
    if any(v is None for v in out.values()):
        return None
    sample = _check_sample()
    return out if _stream(sample, out) == cirq.to_json(sample.circuit()) else None


def _check_sample() -> ot.OpTable:
    import cirq
    import sympy

    q = cirq.LineQubit.range(3)
    ops = [cirq.H(q[0]), cirq.CNOT(q[0], q[1]), cirq.Ry(rads=0.5)(q[2]), cirq.CZ(q[1], q[2]),
           cirq.Rz(rads=-1.25)(q[0]), cirq.Ry(rads=sympy.Symbol("s_0"))(q[1]),
           cirq.Rz(rads=sympy.Symbol("s_1"))(q[2]), cirq.GlobalPhaseGate(1j)(),
           cirq.PhasedXZGate(x_exponent=0.25, z_exponent=-0.5, axis_phase_exponent=0.75)(q[0]),
           cirq.X(q[1]).controlled_by(q[2])]
    return ot.OpTable.from_operations(ops)


def write_circuit_json(out, table: ot.OpTable) -> None:
    """Write ``cirq.to_json(table.circuit())`` to the text stream ``out``, a chunk of
    operations at a time."""
    templates = _templates()
    if templates is None:
        import cirq

        out.write(cirq.to_json(table.circuit()))
        return
    for piece in _pieces(table, templates):
        out.write(piece)


def _stream(table: ot.OpTable, templates: dict) -> str:
    return "".join(_pieces(table, templates))


def _pieces(table: ot.OpTable, templates: dict):
    import cirq

    from qlower.blocks.circuits import gc_paused

    n = len(table)
    if n == 0:
        yield '{\n  "cirq_type": "Circuit",\n  "moments": []\n}'
        return
    layers = table.layers()
    order = np.argsort(layers, kind="stable")
    starts = np.zeros(n, dtype=bool)
    starts[0] = True
    starts[1:] = layers[order][1:] != layers[order][:-1]
    xs = [q.x if type(q) is cirq.LineQubit else None for q in table.qubits]
    typed = table.check_finite() and None not in xs
    pxz = [tuple(repr(v) for v in row) for row in table.pxz.tolist()]
    names = [json.dumps(s.name) for s in table.symbols]
    t = templates
    H, CX, CZ, RY, RZ, RY_SYM, RZ_SYM, PXZ, OP = (ot.H, ot.CX, ot.CZ, ot.RY, ot.RZ, ot.RY_SYM,
                                                  ot.RZ_SYM, ot.PXZ, ot.OP)
    yield _HEAD + "\n"
    with gc_paused():
        for start in range(0, n, _CHUNK):
            rows = order[start:start + _CHUNK]
            kind = table.kind[rows].tolist()
            q0 = table.q0[rows].tolist()
            q1 = table.q1[rows].tolist()
            value = table.value[rows].tolist()
            ref = table.ref[rows].tolist()
            new = starts[start:start + _CHUNK].tolist()
            parts: list[str] = []
            for i, k in enumerate(kind):
                if new[i]:
                    if start + i:
                        parts.append(_MOMENT_CLOSE + ",\n")
                    parts.append(_MOMENT_OPEN)
                else:
                    parts.append(",\n")
                if not typed or k == OP:
                    parts.append(_encode(table.operations(rows[i:i + 1])[0]))
                elif k == CX or k == CZ:
                    parts.append(t[k].format(xs[q0[i]], xs[q1[i]]))
                elif k == RY or k == RZ:
                    parts.append(t[k].format(repr(value[i]), xs[q0[i]]))
                elif k == PXZ:
                    parts.append(t[k].format(*pxz[ref[i]], xs[q0[i]]))
                elif k == H:
                    parts.append(t[k].format(xs[q0[i]]))
                elif k == RY_SYM or k == RZ_SYM:
                    parts.append(t[k].format(xs[q0[i]], names[ref[i]]))
            yield "".join(parts)
    yield _MOMENT_CLOSE + "\n  ]\n}"
