"""The index algebra of ``simplify`` (passes/index_algebra.py) never changes what a graph computes.

Random grids ``a·q + b·k + c`` over a symbolic ``[1, seq, seq]`` (q and k the row and column
index, built as transformers builds them: a range, reshaped, scaled, shifted), compared with
each other or a constant, combined with and/or/not, used in a where, and GatherND at grids into
a runtime tensor: the simplified graph gives the same values as the original at several
sequence lengths, and what it folds (uniform grids, triangles) it folds to the expected ops.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from qlower.backends import run_graph
from qlower.ir import parse, verify_graph
from qlower.passes import run_pipeline

COMPARE = ("greater", "greater_equal", "less", "less_equal", "equal")
grid = st.tuples(st.integers(-2, 2), st.integers(-2, 2), st.integers(-3, 3))


def grid_ops(name: str, a: int, b: int, c: int) -> list[str]:
    t = "tensor<1x(seq)x(seq)xi64>"
    return [
        f"%{name}_qa = nn.mul(%q, %c{a + 2}) : tensor<1x(seq)x1xi64>",
        f"%{name}_kb = nn.mul(%k, %c{b + 2}) : tensor<1x1x(seq)xi64>",
        f"%{name}_s = nn.add(%{name}_qa, %{name}_kb) : {t}",
        f"%{name} = nn.add(%{name}_s, %o{c + 3}) : {t}",
    ]


def graph_text(g1, g2, cmp: str, vs_constant: bool, logic: str) -> str:
    consts = [f"  const %c{i}: tensor<i64> = dense<{i - 2}>" for i in range(5)]
    consts += [f"  const %o{i}: tensor<i64> = dense<{i - 3}>" for i in range(7)]
    consts += ["  const %one: tensor<f32> = dense<1.0>", "  const %zero: tensor<f32> = dense<0.0>"]
    b = "tensor<1x(seq)x(seq)xbool>"
    ops = [
        "%r = nn.range() {delta = 1, dtype = i64, size = (seq), start = 0} : tensor<(seq)xi64>",
        "%q = nn.reshape(%r) {shape = [1, (seq), 1]} : tensor<1x(seq)x1xi64>",
        "%k = nn.reshape(%r) {shape = [1, 1, (seq)]} : tensor<1x1x(seq)xi64>",
        *grid_ops("g1", *g1), *grid_ops("g2", *g2),
        f"%p = nn.{cmp}(%g1, {'%o3' if vs_constant else '%g2'}) : {b}",
        f"%u = nn.less_equal(%k, %q) : {b}",
    ]
    if logic == "not":
        ops.append(f"%m = nn.not(%p) : {b}")
    else:
        ops.append(f"%m = nn.{logic}(%p, %u) : {b}")
    ops += ["%w = nn.where(%m, %one, %zero) : tensor<1x(seq)x(seq)xf32>",
            "%y = nn.add(%x, %w) : tensor<1x(seq)x(seq)xf32>"]
    body = "\n".join(consts + ["  " + o for o in ops])
    return f"graph @g(%x: tensor<1x(seq)x(seq)xf32>) {{\n{body}\n  return %y\n}}\n"


@settings(max_examples=60, deadline=None, derandomize=True)
@given(g1=grid, g2=grid, cmp=st.sampled_from(COMPARE), vs_constant=st.booleans(),
       logic=st.sampled_from(("and", "or", "xor", "not")))
def test_grids_fold_without_changing_values(g1, g2, cmp, vs_constant, logic):
    before = parse(graph_text(g1, g2, cmp, vs_constant, logic))
    verify_graph(before)
    after = run_pipeline(before, "simplify,dce")
    verify_graph(after)
    for seq in (1, 2, 5):
        x = np.zeros((1, seq, seq), np.float32)
        assert np.array_equal(run_graph(before, {"x": x})["y"], run_graph(after, {"x": x})["y"])
    # the "k <= q" operand, wherever it survives, is a triangle of true
    assert all(op.name == "nn.trilu" for op in after.ops if "u" in op.result_names)


def test_a_triangle_and_a_uniform_grid_fold_to_expected_ops():
    """``q - k + 1 > 0`` is ``k <= q`` (tril); ``q + k >= 0`` holds everywhere."""
    text = graph_text((1, -1, 1), (1, 1, 0), "greater", True, "and")
    after = run_pipeline(parse(text), "simplify,dce")
    counts = Counter(op.name for op in after.ops)
    assert counts["nn.trilu"] == 2 and "nn.range" not in counts, counts
    text = graph_text((1, 1, 0), (0, 0, 0), "greater_equal", True, "or")
    after = run_pipeline(parse(text), "simplify,dce")
    counts = Counter(op.name for op in after.ops)
    assert "nn.where" not in counts and "nn.range" not in counts, counts


def test_gather_nd_at_shifted_grids_is_left_alone():
    """GatherND at ``[b, k - 1]`` is no placement of the data (negative index wraps): kept."""
    text = """graph @g(%m: tensor<(batch)x(seq)xf32>) {
  const %one: tensor<i64> = dense<1>
  %rb = nn.range() {delta = 1, dtype = i64, size = (batch), start = 0} : tensor<(batch)xi64>
  %rs = nn.range() {delta = 1, dtype = i64, size = (seq), start = 0} : tensor<(seq)xi64>
  %b = nn.reshape(%rb) {shape = [(batch), 1, 1]} : tensor<(batch)x1x1xi64>
  %k = nn.reshape(%rs) {shape = [1, (seq), 1]} : tensor<1x(seq)x1xi64>
  %k1 = nn.sub(%k, %one) : tensor<1x(seq)x1xi64>
  %be = nn.expand(%b) {shape = [(batch), (seq), 1]} : tensor<(batch)x(seq)x1xi64>
  %ke = nn.expand(%k1) {shape = [(batch), (seq), 1]} : tensor<(batch)x(seq)x1xi64>
  %idx = nn.concat(%be, %ke) {axis = 2} : tensor<(batch)x(seq)x2xi64>
  %y = nn.gather_nd(%m, %idx) {batch_dims = 0} : tensor<(batch)x(seq)xf32>
  return %y
}
"""
    before = parse(text)
    after = run_pipeline(before, "simplify,dce")
    assert [op.name for op in after.ops].count("nn.gather_nd") == 1
    m = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert np.array_equal(run_graph(after, {"m": m})["y"], np.roll(m, 1, axis=1))


@settings(max_examples=20, deadline=None, derandomize=True)
@given(scale=st.integers(-2, 2), shift=st.integers(-3, 3), bound=st.integers(-4, 8),
       cmp=st.sampled_from(COMPARE[:4]))
def test_gathers_of_grids_compose(scale, shift, bound, cmp):
    """GatherND and Gather of a grid at grids is a grid (positions gathered at [b, q], as
    transformers does without a mask): compared with a constant, the same values."""
    text = f"""graph @g(%x: tensor<(batch)x(seq)xf32>) {{
  const %scale: tensor<i64> = dense<{scale}>
  const %shift: tensor<i64> = dense<{shift}>
  const %bound: tensor<i64> = dense<{bound}>
  const %one: tensor<f32> = dense<1.0>
  const %zero: tensor<f32> = dense<0.0>
  %rb = nn.range() {{delta = 1, dtype = i64, size = (batch), start = 0}} : tensor<(batch)xi64>
  %rs = nn.range() {{delta = 1, dtype = i64, size = (seq), start = 0}} : tensor<(seq)xi64>
  %ps = nn.mul(%rs, %scale) : tensor<(seq)xi64>
  %pt = nn.add(%ps, %shift) : tensor<(seq)xi64>
  %p2 = nn.reshape(%pt) {{shape = [1, (seq)]}} : tensor<1x(seq)xi64>
  %pos = nn.expand(%p2) {{shape = [(batch), (seq)]}} : tensor<(batch)x(seq)xi64>
  %b = nn.reshape(%rb) {{shape = [(batch), 1, 1]}} : tensor<(batch)x1x1xi64>
  %q = nn.reshape(%rs) {{shape = [1, (seq), 1]}} : tensor<1x(seq)x1xi64>
  %be = nn.expand(%b) {{shape = [(batch), (seq), 1]}} : tensor<(batch)x(seq)x1xi64>
  %qe = nn.expand(%q) {{shape = [(batch), (seq), 1]}} : tensor<(batch)x(seq)x1xi64>
  %idx = nn.concat(%be, %qe) {{axis = 2}} : tensor<(batch)x(seq)x2xi64>
  %g = nn.gather_nd(%pos, %idx) {{batch_dims = 0}} : tensor<(batch)x(seq)xi64>
  %r1 = nn.reshape(%rs) {{shape = [1, (seq)]}} : tensor<1x(seq)xi64>
  %h = nn.gather(%pt, %r1) {{axis = 0}} : tensor<1x(seq)xi64>
  %d = nn.sub(%g, %h) : tensor<(batch)x(seq)xi64>
  %e = nn.add(%d, %g) : tensor<(batch)x(seq)xi64>
  %c = nn.{cmp}(%e, %bound) : tensor<(batch)x(seq)xbool>
  %w = nn.where(%c, %one, %zero) : tensor<(batch)x(seq)xf32>
  %y = nn.add(%x, %w) : tensor<(batch)x(seq)xf32>
  return %y
}}
"""
    before = parse(text)
    after = run_pipeline(before, "simplify,dce")
    verify_graph(after)
    for batch, seq in ((1, 1), (2, 3), (3, 6)):
        x = np.zeros((batch, seq), np.float32)
        assert np.array_equal(run_graph(before, {"x": x})["y"], run_graph(after, {"x": x})["y"])
