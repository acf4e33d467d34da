"""Backends that execute or emit IR graphs. ``reference`` runs any stage with numpy."""

from qlower.backends.reference import ReferenceBackend, bind_inputs, run_graph

BACKENDS = {"reference": ReferenceBackend}

__all__ = ["BACKENDS", "ReferenceBackend", "bind_inputs", "run_graph"]
