"""ONNX backend interface (``onnx.backend.base.Backend``) on top of qlower.

``qlower.backend.prepare(model)`` returns a rep whose ``run(inputs)`` returns the outputs in the
graph's order, so ONNX's node-conformance suite runs against qlower::

    import onnx.backend.test
    import qlower.backend
    bt = onnx.backend.test.BackendTest(qlower.backend, __name__)
    bt.include(r"test_gemm_.*")
    globals().update(bt.test_cases)

Two backends, as ``qlower run`` has them: ``backend="qsim"`` (the default) compiles the model
(``qlower.compile``) and runs its kernels on qsim, the host ops with numpy;
``backend="reference"`` runs the graph at ``stage`` (default ``"canonical"``; ``"imported"`` or
``"lowered"``) on the numpy interpreter.

Dense layers are lowered only when their weights are constants. ONNX's node tests pass
weights as graph inputs, so with qsim by default (``freeze="weights"``) a graph input that is
used only as the weight or bias of a ``Gemm``/``MatMul``/``Conv`` is frozen into a constant when the
inputs arrive (the program is compiled once per distinct weights); ``freeze="none"`` (the
reference backend's default) keeps them inputs, and those layers then run on the host. Other
options given to ``prepare``/``run_model`` go to ``qlower.compile`` (``strategy``, ``method``,
...) and to the run (``shots``, ``seed``, ``max_qubits``, ``max_work``).
"""

from __future__ import annotations

import hashlib
from collections import namedtuple

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.backend.base import Backend, BackendRep, Device, DeviceType

from qlower.api import stage_pipeline
from qlower.errors import QlowerError
from qlower.frontend.onnx_loader import load_proto

BACKENDS = ("qsim", "reference")
_RUN_OPTIONS = ("shots", "seed", "max_qubits", "max_work")
_WEIGHT_SLOTS = {"Conv": (1, 2), "Gemm": (1, 2), "MatMul": (1,)}


def weight_inputs(model: onnx.ModelProto) -> list[str]:
    """Graph inputs used only as weights/biases of Gemm, MatMul or Conv nodes."""
    names = {i.name for i in model.graph.input} - {t.name for t in model.graph.initializer}
    as_weight: set[str] = set()
    other: set[str] = set()
    for node in model.graph.node:
        slots = _WEIGHT_SLOTS.get(node.op_type, ())
        for k, name in enumerate(node.input):
            if name in names:
                (as_weight if k in slots else other).add(name)
    outputs = {o.name for o in model.graph.output}
    return [n for n in sorted(as_weight - other - outputs)]


def freeze(model: onnx.ModelProto, values: dict[str, np.ndarray]) -> onnx.ModelProto:
    """A copy of ``model`` with the graph inputs in ``values`` turned into initializers."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    keep = [i for i in out.graph.input if i.name not in values]
    del out.graph.input[:]
    out.graph.input.extend(keep)
    for name, arr in values.items():
        out.graph.initializer.append(numpy_helper.from_array(np.asarray(arr), name))
    return out


class QlowerRep(BackendRep):
    def __init__(self, model: onnx.ModelProto, options: dict) -> None:
        self.model = model
        self.backend = options.pop("backend", "qsim")
        if self.backend not in BACKENDS:
            raise QlowerError(f"unknown backend '{self.backend}' (backends: {', '.join(BACKENDS)})")
        self.stage = options.pop("stage", "canonical")
        stage_pipeline(self.stage)  # an unknown stage is refused here, not at the first run
        self.freeze = options.pop("freeze", "weights" if self.backend == "qsim" else "none")
        if self.freeze not in ("weights", "none"):
            raise QlowerError(f"freeze must be 'weights' or 'none', got {self.freeze!r}")
        self.run_options = {k: options.pop(k) for k in _RUN_OPTIONS if k in options}
        self.compile_options = options
        if self.backend == "reference" and (self.run_options or self.compile_options):
            extra = ", ".join(sorted([*self.run_options, *self.compile_options]))
            raise QlowerError(f"options {extra} need backend='qsim'")
        self.inputs = [i.name for i in model.graph.input
                       if i.name not in {t.name for t in model.graph.initializer}]
        self.frozen = weight_inputs(model) if self.freeze == "weights" else []
        self._cache: dict[bytes, object] = {}
        if not self.frozen:
            self._program(model, b"")

    def _program(self, model: onnx.ModelProto, key: bytes):
        from qlower.api import compile as qcompile
        from qlower.api import to_stage

        prog = self._cache.get(key)
        if prog is None:
            graph = load_proto(model, model.graph.name or "model")
            if self.backend == "reference":
                prog = to_stage(graph, self.stage)
            else:
                prog = qcompile(graph, "cirq", **self.compile_options)
            self._cache = {key: prog}  # keep one: node tests rarely repeat weights
        return prog

    @property
    def program(self):
        """What the last run executed: a CompiledProgram (qsim) or a Graph (reference)."""
        return next(iter(self._cache.values()), None)

    def run(self, inputs, **kwargs):
        if isinstance(inputs, dict):
            feed = dict(inputs)
        else:
            if isinstance(inputs, np.ndarray):
                inputs = [inputs]
            feed = dict(zip(self.inputs, inputs))
        # ONNX's runner passes scalar inputs (a CumSum axis, a Range bound) as numpy scalars
        feed = {k: np.asarray(v) if isinstance(v, np.generic) else v for k, v in feed.items()}
        model = self.model
        key = b""
        if self.frozen:
            fixed = {n: np.asarray(feed.pop(n)) for n in self.frozen}
            h = hashlib.sha256()
            for n in self.frozen:
                h.update(n.encode() + fixed[n].tobytes() + str(fixed[n].shape).encode())
            key = h.digest()
            if key not in self._cache:
                model = freeze(self.model, fixed)
        program = self._program(model, key)
        if self.backend == "reference":
            from qlower.api import run as run_graph

            if kwargs:
                raise QlowerError(f"options {', '.join(sorted(kwargs))} need backend='qsim'")
            result = run_graph(program, feed)
            names = list(program.outputs)
        else:
            opts = {**self.run_options, **kwargs}
            shots = opts.pop("shots", None)
            result = program.run(feed, shots, **opts)
            names = list(program.graph.outputs)
        Outputs = namedtuple("Outputs", names, rename=True)  # invalid names become _0, _1, ...
        return Outputs(*[result[n] for n in names])


class QlowerBackend(Backend):
    @classmethod
    def is_compatible(cls, model, device: str = "CPU", **kwargs) -> bool:
        return cls.supports_device(device)

    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs) -> QlowerRep:
        super().prepare(model, device, **kwargs)
        return QlowerRep(model, dict(kwargs))

    @classmethod
    def run_model(cls, model: onnx.ModelProto, inputs, device: str = "CPU", **kwargs):
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def run_node(cls, node, inputs, device: str = "CPU", outputs_info=None, **kwargs):
        raise NotImplementedError("qlower runs whole models; use run_model")

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return Device(device).type == DeviceType.CPU


prepare = QlowerBackend.prepare
run_model = QlowerBackend.run_model
run_node = QlowerBackend.run_node
supports_device = QlowerBackend.supports_device
is_compatible = QlowerBackend.is_compatible
