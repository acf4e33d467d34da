"""``qlower estimate`` of a BERT-base-sized encoder layer: time and peak memory.

    python bench/estimate_bert.py [--d 768] [--heads 12] [--ffn 3072] [--seq 128] [--repeats 3]

Builds the layer with onnx.helper (random weights, seeded; no torch or download): Q, K, V and
output projections (d×d MatMul + Add), multi-head attention (Reshape, Transpose, MatMul,
Softmax), two LayerNormalizations, the feed-forward block d→ffn→d with GELU. Then runs
``qlower estimate`` on it in a fresh process per repeat and reports the wall time and the
peak resident memory of that process (``ru_maxrss`` of the child), as medians with their range.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh


def encoder_layer(d: int, heads: int, ffn: int, seq: int, seed: int = 0) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    inits, nodes = [], []

    def const(name, array):
        inits.append(nh.from_array(np.asarray(array), name))
        return name

    def dense(x, n_in, n_out, name):
        w = const(f"{name}.weight", (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(np.float32))
        b = const(f"{name}.bias", (0.02 * rng.standard_normal(n_out)).astype(np.float32))
        nodes.append(h.make_node("MatMul", [x, w], [f"{name}.mm"], name=f"{name}.matmul"))
        nodes.append(h.make_node("Add", [f"{name}.mm", b], [f"{name}.out"], name=name))
        return f"{name}.out"

    hd = d // heads
    split = const("split_shape", np.array([0, 0, heads, hd], np.int64))
    merge = const("merge_shape", np.array([0, 0, d], np.int64))
    q, k, v = (dense("x", d, d, f"attn.{n}") for n in "qkv")
    for n, src in (("q", q), ("k", k), ("v", v)):
        nodes.append(h.make_node("Reshape", [src, split], [f"{n}.heads"], name=f"{n}.split"))
        perm = [0, 2, 3, 1] if n == "k" else [0, 2, 1, 3]
        nodes.append(h.make_node("Transpose", [f"{n}.heads"], [f"{n}.t"], name=f"{n}.t", perm=perm))
    scale = const("scale", np.array(1 / np.sqrt(hd), np.float32))
    nodes += [h.make_node("MatMul", ["q.t", "k.t"], ["scores"], name="qk"),
              h.make_node("Mul", ["scores", scale], ["scaled"], name="scale"),
              h.make_node("Softmax", ["scaled"], ["probs"], name="softmax", axis=-1),
              h.make_node("MatMul", ["probs", "v.t"], ["ctx"], name="pv"),
              h.make_node("Transpose", ["ctx"], ["ctx.t"], name="ctx.t", perm=[0, 2, 1, 3]),
              h.make_node("Reshape", ["ctx.t", merge], ["ctx.m"], name="merge")]
    o = dense("ctx.m", d, d, "attn.out")
    g1, b1 = const("ln1.g", np.ones(d, np.float32)), const("ln1.b", np.zeros(d, np.float32))
    nodes += [h.make_node("Add", [o, "x"], ["res1"], name="res1"),
              h.make_node("LayerNormalization", ["res1", g1, b1], ["ln1"], name="ln1", axis=-1)]
    f1 = dense("ln1", d, ffn, "ffn.up")
    nodes.append(h.make_node("Gelu", [f1], ["gelu"], name="gelu"))
    f2 = dense("gelu", ffn, d, "ffn.down")
    g2, b2 = const("ln2.g", np.ones(d, np.float32)), const("ln2.b", np.zeros(d, np.float32))
    nodes += [h.make_node("Add", [f2, "ln1"], ["res2"], name="res2"),
              h.make_node("LayerNormalization", ["res2", g2, b2], ["y"], name="ln2", axis=-1)]
    graph = h.make_graph(nodes, "bert_layer", [h.make_tensor_value_info("x", T.FLOAT, ["batch", seq, d])],
                         [h.make_tensor_value_info("y", T.FLOAT, ["batch", seq, d])], inits)
    return h.make_model(graph, opset_imports=[h.make_opsetid("", 20)], producer_name="qlower bench")


CHILD = """
import json, resource, sys, time
t = time.perf_counter()
from qlower.cli import main
import contextlib, io
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    status = main(["estimate", sys.argv[1], "--json"])
print(json.dumps({"status": status, "seconds": time.perf_counter() - t,
                  "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "estimate": json.loads(buf.getvalue()) if status == 0 else None}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--d", type=int, default=768)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--ffn", type=int, default=3072)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bert_layer.onnx"
        onnx.save(encoder_layer(args.d, args.heads, args.ffn, args.seq), path)
        runs = []
        for _ in range(args.repeats):
            out = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True,
                                 text=True, check=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    secs = [r["seconds"] for r in runs]
    mib = [r["maxrss_kib"] / 1024 for r in runs]
    est = runs[-1]["estimate"]
    print(f"BERT-base-sized encoder layer (d = {args.d}, {args.heads} heads, FFN {args.ffn}, "
          f"seq {args.seq}); qlower estimate in a fresh process, {args.repeats} runs")
    for k in est["kernels"]:
        print(f"  {k['kernel']:4} {','.join(k['nodes'])[:28]:28} {k['method']:9} qubits {k['qubits']:3} "
              f"CNOTs {k['cnots']:>10} alpha {k['alpha']:.4g} p_succ {k['success_probability']:.3g}")
    t = est["total"]
    print(f"  total: {t['kernels']} kernels, {t['cnots']} CNOTs, {t['rotations']} rotations")
    print(f"time: median {statistics.median(secs):.2f} s (range {min(secs):.2f}-{max(secs):.2f}); "
          f"peak memory: median {statistics.median(mib):.0f} MiB (range {min(mib):.0f}-{max(mib):.0f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
