"""Graphviz DOT text of a graph: inputs, the constants ops use, ops, outputs, and dataflow edges.

The picture is built as a networkx DiGraph (node ids ``in0``, ``c0``, ``op0``, ``out0`` in graph
order) and written out by hand, so the text is the same byte for byte on every run. Ops are
labelled with their name and their short attributes; edges with the value's name and type.
"""

from __future__ import annotations

import networkx as nx

from qlower.ir.graph import Graph, Op
from qlower.ir.printer import attr_str, name_str, type_str

MAX_ATTR_CHARS = 32


def _quote(text: str) -> str:
    """A DOT string literal; newlines become ``\\n`` line breaks."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n") + '"'


def _op_label(op: Op) -> str:
    lines = [op.name]
    for key, value in op.attrs.items():
        text = attr_str(value)
        lines.append(f"{key} = {text if len(text) <= MAX_ATTR_CHARS else '...'}")
    return "\n".join(lines)


def _value_label(graph: Graph, name: str) -> str:
    return f"%{name_str(name)}\n{type_str(graph.type_of(name))}"


def build_digraph(graph: Graph) -> nx.DiGraph:
    """Returns the dataflow picture of ``graph`` as a DiGraph with ``label``/``shape`` attributes."""
    g = nx.DiGraph(name=graph.name)
    source: dict[str, str] = {}
    for i, v in enumerate(graph.inputs):
        g.add_node(f"in{i}", label=_value_label(graph, v.name), shape="ellipse")
        source[v.name] = f"in{i}"
    used = {o for op in graph.ops for o in op.present_operands} | set(graph.outputs)
    for i, c in enumerate(graph.constants):
        if c.name in used:
            g.add_node(f"c{i}", label="const " + _value_label(graph, c.name), shape="note")
            source[c.name] = f"c{i}"
    for i, op in enumerate(graph.ops):
        g.add_node(f"op{i}", label=_op_label(op), shape="box")
        for name in dict.fromkeys(op.present_operands):
            if name in source:
                _add_edge(g, source[name], f"op{i}", _value_label(graph, name))
        for name in op.result_names:
            source[name] = f"op{i}"
    for i, name in enumerate(graph.outputs):
        g.add_node(f"out{i}", label=f"return %{name_str(name)}", shape="doublecircle")
        if name in source:
            _add_edge(g, source[name], f"out{i}", _value_label(graph, name))
    return g


def _add_edge(g: nx.DiGraph, a: str, b: str, label: str) -> None:
    """One edge per node pair; two values along the same pair share it, labels stacked."""
    if g.has_edge(a, b):
        g.edges[a, b]["label"] += "\n" + label
    else:
        g.add_edge(a, b, label=label)


def digraph_to_dot(g: nx.DiGraph) -> str:
    """Returns DOT text for a DiGraph whose nodes and edges carry string attributes."""
    lines = [f"digraph {_quote(g.graph.get('name', 'graph'))} {{"]
    lines.append('  node [fontname="monospace"];')
    lines.append('  edge [fontname="monospace", fontsize=10];')
    for node, attrs in g.nodes(data=True):
        lines.append(f"  {node} [{_attr_list(attrs)}];")
    for a, b, attrs in g.edges(data=True):
        lines.append(f"  {a} -> {b} [{_attr_list(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _attr_list(attrs: dict) -> str:
    return ", ".join(f"{k}={_quote(str(v))}" for k, v in attrs.items())


def graph_to_dot(graph: Graph) -> str:
    """Returns deterministic Graphviz DOT text of ``graph`` (ends with a newline)."""
    return digraph_to_dot(build_digraph(graph))
