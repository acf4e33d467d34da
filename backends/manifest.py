"""Writing a compiled program: one file per kernel, the host graph, and ``manifest.json``.

For ``--target qasm3`` each kernel is an OpenQASM 3 program (``k0.qasm``...) whose
data-dependent angles are ``input float[64]`` parameters; for ``--target cirq`` it is Cirq's
JSON (``k0.json``, load with ``cirq.read_json``). Beside them:

- ``program.qir`` + ``program.npz``: the lowered graph (IR text, weights by reference), which
  is the exact recipe of the host work: how the angles are computed from the data
  (``host.amplitude_angles``/``host.overlap_angles``), the norms and offsets, and the rescaling.
- ``manifest.json``: kernels in execution order; for each, its file, qubits, the parameter
  names and the host value they bind (entry ``j`` of the last axis of that value is parameter
  ``j``; one circuit run per index of the leading axes), the read-out rule, the measurement
  register of its OpenQASM 3 program (``c[j]`` holds ``q[qubits[j]]``: output bits, then flag
  bits; ``null`` without measurements), the scale factors, and resources.

:class:`CompiledFolder` reads such a folder back (``qlower.load_compiled``): the manifest, the
host graph through ``qlower.load``, each kernel's binding and read-out rule, and ``bind``.

Everything is written to a new sibling folder, which then replaces the folder as a whole: a
failure or an interrupt never leaves it half new; the same program gives byte-identical files.
Kernel files are streamed from the kernels' operation tables (``write_kernel``), a chunk of
lines at a time, so writing needs memory for the tables, not for the text.
"""

from __future__ import annotations

import ctypes
import io
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from qlower.errors import QlowerError, one_line
from qlower.ir import print_graph, referenced_weights
from qlower.ir.json_format import dumps
from qlower.ir.printer import op_str
from qlower.ir.weights import write_npz

if TYPE_CHECKING:
    from qlower.program import Bindings

FORMAT_VERSION = 1


def _readout_doc(kc) -> dict:
    index = {q: i for i, q in enumerate(kc.qubits)}
    if kc.readout == "overlap":
        return {
            "rule": "hadamard-test",
            "measure_qubit": index[kc.registers.output[0]],
            "value": "2 * P(q[measure_qubit] = 0) - 1",
            "estimator": "2 * n0 / shots - 1, standard error 2 * sqrt(p0 (1 - p0) / shots)",
        }
    if kc.readout == "swap-test":
        return {
            "rule": "swap-test",
            "first_register": [index[q] for q in kc.registers.output],
            "second_register": [index[q] for q in kc.registers.flags],
            "value": "F = 2 * P(sum_i a_i b_i even) - 1 over the bit pairs (first_register[i], "
                     "second_register[i]): |<a|b>|^2",
            "estimator": "2 * n_even / shots - 1, standard error sqrt((1 - F^2) / shots)",
        }
    if kc.readout == "success":
        return {
            "rule": "success",
            "output_qubits": [index[q] for q in kc.registers.output],
            "flag_qubits": [index[q] for q in kc.registers.flags],
            "value": "P(flags = 0): the squared norm the blocks leave of the prepared unit vector",
            "estimator": "n_0 / shots, n_0 = shots with every flag 0 (only the flags are "
                         "measured); standard error sqrt(p (1 - p) / shots)",
        }
    if kc.readout == "probabilities":
        return {
            "rule": "probabilities",
            "output_qubits": [index[q] for q in kc.registers.output],
            "flag_qubits": [index[q] for q in kc.registers.flags],
            "size": kc.size,
            "value": "p_i = P(output = i | flags = 0), i < size (output qubits big-endian: the "
                     "first listed is the most significant bit)",
            "smoothing": kc.smoothing,
            "estimator": "p_i = (n_i + smoothing) / (n_0 + size * smoothing), n_i = shots with "
                         "flags = 0 and output = i, n_0 = shots with flags = 0; standard error "
                         "sqrt(p_i (1 - p_i) / n_0)",
        }
    doc = {
        "rule": "amplitudes",
        "output_qubits": [index[q] for q in kc.registers.output],
        "flag_qubits": [index[q] for q in kc.registers.flags],
        "size": kc.size,
        "value": "psi_i = amplitude of |flags = 0, output = i>, i < size (output qubits "
                 "big-endian: the first listed is the most significant bit)",
        "nonnegative": kc.nonnegative,
    }
    if kc.nonnegative:
        doc["estimator"] = ("psi_i = sqrt(n_i / shots), n_i = shots with flags = 0 and output = i; "
                            "standard error sqrt((1 - p_i) / (4 shots))")
    return doc


def _measurement_doc(kc) -> dict:
    """Which bit of the program's measurement register holds which qubit."""
    measured = list(kc.rule.measured)
    if kc.rule.rule == "swap-test":
        n = len(kc.rule.output)
        return {"register": "c", "qubits": measured, "first_register_bits": list(range(n)),
                "second_register_bits": list(range(n, 2 * n)),
                "value": "c[k] = measure q[qubits[k]]: the first register's bits, then the "
                         "second's; an outcome counts as even when the pairs (c[i], c[n + i]) "
                         "hold an even number of (1, 1)"}
    outputs = 1 if kc.rule.rule == "hadamard-test" else len(kc.rule.output)
    return {
        "register": "c",
        "qubits": measured,
        "output_bits": list(range(outputs)),
        "flag_bits": list(range(outputs, len(measured))),
        "value": "c[k] = measure q[qubits[k]]: the read-out qubits first (the first is the most "
                 "significant bit of the output index), then the flag qubits; a shot counts "
                 "for the output when every flag bit reads 0",
    }


def _scale_doc(program, kc) -> dict:
    g = program.graph
    users = g.users.get(kc.kernel.output, ())
    doc: dict = {}
    if kc.alpha is not None:
        doc["alpha"] = kc.alpha
    for u in users:
        if u.name == "host.rescale":
            doc["rescale"] = op_str(u).strip()
    return doc


def manifest(program, files: dict[str, str], measure: bool = True) -> dict:
    import qlower

    g = program.graph
    kernels = []
    for kc in program.kernels:
        producer = g.producer(kc.kernel.parameters)
        res = kc.resources()
        kernels.append({
            "name": kc.name,
            "file": files[kc.name],
            "source_nodes": list(kc.kernel.source),
            "qubits": len(kc.qubits),
            "method": kc.method,
            "parameters": {
                "names": [s.name for s in kc.symbols],
                "value": kc.kernel.parameters,
                "computed_by": op_str(producer).strip() if producer is not None else None,
                "binding": "parameter j = entry j of the value's last axis; one run per index "
                           "of its leading axes",
            },
            "readout": _readout_doc(kc),
            "measurement": _measurement_doc(kc) if measure and program.target == "qasm3" else None,
            "readout_value": kc.kernel.output,
            "scale": _scale_doc(program, kc),
            "resources": res.as_dict(),
        })
    doc = {
        "format": FORMAT_VERSION,
        "qlower": qlower.__version__,
        "target": program.target,
        "graph": g.name,
        "host_program": "program.qir",
        "host_weights": "program.npz",
        "inputs": [v.name for v in g.inputs],
        "outputs": list(g.outputs),
        "kernels": kernels,
        "host_layers": [dict(h) for h in program.host_ops],
        "options": program.options,
    }
    if program.decisions:  # the cost model's: each layer's candidates and why it chose
        doc["choices"] = [d.as_dict() for d in program.decisions]
    return doc


def kernel_file(program, kc) -> str:
    """The file name of a kernel for the program's target."""
    return f"{kc.name}.qasm" if program.target == "qasm3" else f"{kc.name}.json"


def write_kernel(program, kc, out, measure: bool = True) -> None:
    """Write one kernel to the text stream ``out`` for the program's target, from its
    operation table (no circuit is built): an OpenQASM 3 program that ends measuring its
    read-out and flag qubits into ``bit[k] c`` unless ``measure`` is False, or Cirq's JSON of
    ``kc.circuit`` (``cirq.read_json`` loads it)."""
    if program.target == "qasm3":
        from qlower.backends.qasm3 import write_qasm3

        header = f"qlower kernel {kc.name} ({kc.method}); read-out: see manifest.json"
        write_qasm3(out, kc.ops, order=kc.ops.packed_order(), qubits=list(kc.qubits),
                    parameters=list(kc.symbols), header_comment=header,
                    measure=list(kc.rule.measured) if measure else False)
        return
    from qlower.backends.cirq_json import write_circuit_json

    write_circuit_json(out, kc.ops)
    out.write("\n")


def kernel_text(program, kc, measure: bool = True) -> tuple[str, str]:
    """(file name, contents) of one kernel (:func:`write_kernel` into a string)."""
    buf = io.StringIO()
    write_kernel(program, kc, buf, measure)
    return kernel_file(program, kc), buf.getvalue()


OUTPUT_FILE = re.compile(r"k\d+\.(qasm|json)|program\.qir|program\.npz|manifest\.json")


def write_program(program, directory: Path, measure: bool = True) -> list[Path]:
    """Write the program to ``directory`` as a whole: every file goes into a new sibling
    folder, which then takes the place of ``directory`` (one atomic exchange where the system
    has it, else two renames that are undone on an interrupt). A failure or an interrupt
    leaves ``directory`` as it was and no temporary folder behind."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise FileExistsError(f"{directory} exists and is not a folder")
    if directory.is_dir():
        foreign = sorted(p.name for p in directory.iterdir() if not OUTPUT_FILE.fullmatch(p.name))
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            raise QlowerError(f"{directory}: holds files compile did not write ({shown}); compile "
                              "replaces the folder as a whole, so give it a new or empty folder")
    files = {kc.name: kernel_file(program, kc) for kc in program.kernels}
    texts: dict[str, str] = {}
    texts["program.qir"] = print_graph(program.graph)
    texts["manifest.json"] = dumps(manifest(program, files, measure))
    parent = directory.parent if str(directory.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".tmp", dir=parent))
    try:
        for kc in program.kernels:  # streamed: a kernel's text is never held whole
            with open(tmp / files[kc.name], "w", encoding="utf-8", newline="\n") as f:
                write_kernel(program, kc, f, measure)
        for name, text in texts.items():
            with open(tmp / name, "w", encoding="utf-8", newline="\n") as f:
                f.write(text)
        write_npz(tmp / "program.npz", referenced_weights(program.graph))
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # a folder as mkdir makes it (mkdtemp's is private)
        swap_in(tmp, directory)
        return [directory / name for name in [*files.values(), *texts, "program.npz"]]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # after the swap it holds the old folder


def swap_in(new: Path, target: Path) -> None:
    """Put folder ``new`` in ``target``'s place; the old ``target`` (if any) ends up at ``new``."""
    if not target.exists():
        os.rename(new, target)
        return
    if _exchange(new, target):
        return
    old = new.with_name(new.name + ".old")
    os.rename(target, old)
    try:
        os.rename(new, target)
    except BaseException:
        os.rename(old, target)
        raise
    os.rename(old, new)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False where unavailable."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


# -- reading a compiled folder ------------------------------------------------------------------


class CompiledFolder:
    """What ``qlower compile -o DIR`` wrote, read back through the public API: the manifest, the
    host graph (``qlower.load`` of ``program.qir`` with ``program.npz``) and each kernel's file.

    ``kernels``: where each kernel meets the host graph (``KernelBinding``, execution order);
    ``rules``: each kernel's read-out rule; ``bind(inputs)``: every kernel's parameter values.
    """

    def __init__(self, directory: str | Path):
        from qlower.api import load
        from qlower.backends.readout import ReadoutRule
        from qlower.program import KernelBinding

        self.directory = Path(directory)
        self.manifest = read_manifest(self.directory)
        entries = self.manifest["kernels"]
        try:
            self.kernels = [KernelBinding.from_manifest(e) for e in entries]
            self.rules = {e["name"]: ReadoutRule.from_manifest(e) for e in entries}
            self.parameter_names = {e["name"]: list(e["parameters"]["names"]) for e in entries}
            self.files = {e["name"]: e["file"] for e in entries}
            host = self.manifest["host_program"]
        except (KeyError, TypeError, ValueError) as e:
            raise QlowerError(f"{self.directory / 'manifest.json'}: not a manifest qlower "
                              f"wrote ({type(e).__name__}: {e})") from None
        self.graph = load(self.directory / host)

    @property
    def target(self) -> str:
        return self.manifest.get("target", "")

    def entry(self, kernel: str) -> dict:
        return next(e for e in self.manifest["kernels"] if e["name"] == kernel)

    def kernel_path(self, kernel: str) -> Path:
        return self.directory / self.files[kernel]

    def bind(self, inputs) -> Bindings:
        """Every kernel's parameter values per row on ``inputs`` (``qlower.program.Bindings``)."""
        from qlower.program import bind_parameters

        return bind_parameters(self.graph, self.kernels, inputs, self.parameter_names)


def read_manifest(directory: str | Path) -> dict:
    """``manifest.json`` of a compiled folder, checked for its format version."""
    import json

    directory = Path(directory)
    path = directory / "manifest.json"
    if not directory.is_dir():
        raise QlowerError(f"{directory}: no such folder (give the folder qlower compile wrote)")
    if not path.is_file():
        raise QlowerError(f"{directory}: no manifest.json (not a folder qlower compile wrote)")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise QlowerError(f"{path}: cannot read ({one_line(e, 200)})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_VERSION:
        found = doc.get("format") if isinstance(doc, dict) else None
        raise QlowerError(f"{path}: manifest format {found!r}, this qlower reads format "
                          f"{FORMAT_VERSION}")
    return doc
