"""Writing a compiled program: one file per kernel, the host graph, and ``manifest.json``.

For ``--target qasm3`` each kernel is an OpenQASM 3 program (``k0.qasm``...) whose
data-dependent angles are ``input float[64]`` parameters; for ``--target cirq`` it is Cirq's
JSON (``k0.json``, load with ``cirq.read_json``). Beside them:

- ``program.qir`` + ``program.npz``: the lowered graph (IR text, weights by reference), which
  is the exact recipe of the host work: how the angles are computed from the data
  (``host.amplitude_angles``/``host.overlap_angles``), the norms and offsets, and the rescaling.
- ``manifest.json``: kernels in execution order; for each, its file, qubits, the parameter
  names and the host value they bind (entry ``j`` of the last axis of that value is parameter
  ``j``; one circuit run per index of the leading axes), the read-out rule, the scale factors,
  and resources.

Everything is written to a new sibling folder, which then replaces the folder as a whole: a
failure or an interrupt never leaves it half new; the same program gives byte-identical files.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import tempfile
from pathlib import Path

import cirq

from qlower.errors import QlowerError
from qlower.ir import print_graph, referenced_weights
from qlower.ir.json_format import dumps
from qlower.ir.printer import op_str
from qlower.ir.weights import write_npz

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


def manifest(program, files: dict[str, str]) -> dict:
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
            "readout_value": kc.kernel.output,
            "scale": _scale_doc(program, kc),
            "resources": res.as_dict(),
        })
    return {
        "format": FORMAT_VERSION,
        "qlower": qlower.__version__,
        "target": program.target,
        "graph": g.name,
        "host_program": "program.qir",
        "host_weights": "program.npz",
        "inputs": [v.name for v in g.inputs],
        "outputs": list(g.outputs),
        "kernels": kernels,
        "host_layers": [label for _, label in program.host_ops],
        "options": program.options,
    }


def kernel_text(program, kc) -> tuple[str, str]:
    """(file name, contents) of one kernel for the program's target."""
    if program.target == "qasm3":
        from qlower.backends.qasm3 import to_qasm3

        header = f"qlower kernel {kc.name} ({kc.method}); read-out: see manifest.json"
        return f"{kc.name}.qasm", to_qasm3(kc.circuit, qubits=list(kc.qubits),
                                            parameters=list(kc.symbols), header_comment=header)
    return f"{kc.name}.json", cirq.to_json(kc.circuit) + "\n"


OUTPUT_FILE = re.compile(r"k\d+\.(qasm|json)|program\.qir|program\.npz|manifest\.json")


def write_program(program, directory: Path) -> list[Path]:
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
    files: dict[str, str] = {}
    texts: dict[str, str] = {}
    for kc in program.kernels:
        name, text = kernel_text(program, kc)
        files[kc.name] = name
        texts[name] = text
    texts["program.qir"] = print_graph(program.graph)
    texts["manifest.json"] = dumps(manifest(program, files))
    parent = directory.parent if str(directory.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".tmp", dir=parent))
    try:
        for name, text in texts.items():
            with open(tmp / name, "w", encoding="utf-8", newline="\n") as f:
                f.write(text)
        write_npz(tmp / "program.npz", referenced_weights(program.graph))
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # a folder as mkdir makes it (mkdtemp's is private)
        swap_in(tmp, directory)
        return [directory / name for name in [*texts, "program.npz"]]
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
