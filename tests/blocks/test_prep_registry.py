"""The state-preparation registry: every entry's statements agree with the circuit it builds.

For every entry and n = 1..8, real and complex generic (Gaussian) data: ``cost(n, complex)``
against ``count_resources`` of the built circuit (exact where the entry says so, upper bounds
otherwise; depth always an upper bound), ``state(x)`` against cirq's simulation (n <= 6), and
``auto`` against the entry with the fewest CNOTs.
"""

from __future__ import annotations

import subprocess
import sys

import cirq
import numpy as np
import pytest

from qlower.blocks.amplitude import METHODS, amplitude_encoding
from qlower.blocks.circuits import count_resources
from qlower.blocks.prep_registry import choose_prep, prep_method, prep_method_names, prep_methods

NS = range(1, 9)


def data(n, complex_, seed=0):
    rng = np.random.default_rng(100 * n + 2 * seed + complex_)
    x = rng.standard_normal(1 << n)
    return x + 1j * rng.standard_normal(1 << n) if complex_ else x


def cases():
    for name, entry in prep_methods().items():
        for n in NS:
            if n >= entry.min_qubits:
                for complex_ in (False, True):
                    yield name, n, complex_


@pytest.mark.parametrize("name, n, complex_", list(cases()))
def test_entry_states_what_its_circuit_does(name, n, complex_):
    entry = prep_method(name)
    x = data(n, complex_)
    block = amplitude_encoding(x, method=name)
    assert block.method == name and block.num_qubits == entry.qubits(x.shape[0]) == n
    got = count_resources(block.circuit, block.registers.output)
    want = entry.cost(n, complex_)
    assert got.qubits == want.qubits == n
    assert got.depth <= want.depth
    counted = (got.cnots, got.rotations, got.single_qubit)
    stated = (want.cnots, want.rotations, want.single_qubit)
    if entry.counts_exact(n, complex_):
        assert counted == stated
    else:
        assert all(g <= w for g, w in zip(counted, stated)), (counted, stated)
    np.testing.assert_allclose(block.state, entry.state(x), atol=1e-12)
    if n <= 6:
        qs = list(block.registers.output)
        sim = cirq.Simulator(dtype=np.complex128)
        final = sim.simulate(block.circuit, qubit_order=qs).final_state_vector
        ref = entry.state(x)
        phase = np.vdot(ref, final)
        assert abs(abs(phase) - 1) < 1e-9
        np.testing.assert_allclose(final, phase * ref, atol=1e-9)


def test_exact_where_stated():
    """Complex Schmidt is exact up to n = 7; real Schmidt is an upper bound."""
    s = prep_method("schmidt")
    assert [s.counts_exact(n, True) for n in range(2, 9)] == [True] * 6 + [False]
    assert not any(s.counts_exact(n, False) for n in range(2, 9))
    assert all(prep_method(m).counts_exact(n, c) for m in ("mottonen", "ucg")
               for n in NS for c in (False, True))


@pytest.mark.parametrize("complex_", [False, True])
def test_auto_picks_the_fewest_cnots(complex_):
    for n in NS:
        chosen = choose_prep(n, complex_)
        weighed = {name: e.cost(n, complex_) for name, e in prep_methods().items()
                   if e.auto_candidate(n, complex_)}
        assert chosen in weighed
        assert weighed[chosen].cnots == min(c.cnots for c in weighed.values())
        assert amplitude_encoding(data(n, complex_), method="auto").method == chosen
    # the entries auto leaves out at small or odd real n save at most one CNOT there
    for n in (2, 3, 5):
        assert (prep_method("schmidt").cost(n, False).cnots
                >= prep_method(choose_prep(n, False)).cost(n, False).cnots - 1)


def test_method_list_and_lookup():
    assert METHODS == ("auto", *prep_method_names()) == ("auto", "mottonen", "schmidt", "ucg")
    assert [e.name for e in prep_methods().values() if e.symbolic] == ["mottonen"]
    with pytest.raises(ValueError, match="use one of mottonen, schmidt, ucg or 'auto'"):
        prep_method("fable")
    with pytest.raises(ValueError, match="no symbolic circuit"):
        prep_method("ucg").build_symbolic(8)
    with pytest.raises(ValueError, match="at least 2 qubits"):
        prep_method("schmidt").cost(1)
    assert amplitude_encoding(size=5, complex=True).method == "mottonen"


def test_registry_does_not_load_cirq():
    code = ("import sys; from qlower.blocks.prep_registry import prep_methods, choose_prep; "
            "prep_methods(); choose_prep(6, True); print('cirq' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
