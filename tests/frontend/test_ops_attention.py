"""ONNX Attention (opset 23) against onnxruntime.

Covers 4-D and 3-D inputs, grouped-query attention, bool/float/short masks, is_causal, scale,
softcap, KV cache (past_key/past_value with present outputs), every qk_matmul_output_mode and a
symbolic batch. Where onnxruntime rejects a valid model (a mask shorter than the key length),
``onnx.reference.ReferenceEvaluator`` gives the expected outputs; the case says so.

Each case runs at the imported stage and after the canonical pipeline (see tests/onnx_cases.py).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import onnxruntime as ort
import pytest
from onnx_cases import (
    ONNX_REF,
    ORT,
    VALIDATED_ORT,
    Const,
    Data,
    In,
    assert_close,
    case_params,
    check_case,
    expected_outputs,
    imported_graph,
    op_case,
    ort_is_older_than_validated,
)

from qlower.backends import run_graph

d = Data("attention")
B, HQ, HKV, S, L, D, DV, P = 2, 4, 2, 3, 5, 4, 6, 2
ALL = ("Y", "present_key", "present_value", "qk")
MASKED_SCORE = ("onnxruntime writes -FLT_MAX, not -inf, for the scores a bool or causal mask "
                "removes in qk_matmul_output mode 2; ONNX (function body and reference) write "
                "-inf. test_qk_mode2_differs_from_ort_only_at_masked_scores checks that this is "
                "the only difference")
ROW_MASK = ("onnxruntime 1.31 rejects a mask whose query axis is 1 ('inconsistent "
            "q_sequence_length'); ONNX lets the mask broadcast over queries")
SHORT_MASK = ("onnxruntime 1.31 rejects a mask shorter than the key length ('inconsistent "
              "total_sequence_length'), which ONNX allows (padded with -inf / False)")


def attn(case_id, *, q_heads=2, kv_heads=2, s=S, kv=L, dv=D, three_d=False, mask=None,
         past=0, outputs=("Y",), feeds=None, batch_dims=False, reference=ORT, note="",
         **attrs):
    if three_d:
        q = d.f32(B, s, q_heads * D)
        k = d.f32(B, kv, kv_heads * D)
        v = d.f32(B, kv, kv_heads * dv)
        attrs.update(q_num_heads=q_heads, kv_num_heads=kv_heads)
    else:
        q, k, v = d.f32(B, q_heads, s, D), d.f32(B, kv_heads, kv, D), d.f32(B, kv_heads, kv, dv)
    if batch_dims:
        args = [In(x, dims=("batch",) + x.shape[1:]) for x in (q, k, v)]
    else:
        args = [In(q), In(k), In(v)]
    if mask is not None or past:
        args.append(mask)
    if past:
        args += [In(d.f32(B, kv_heads, past, D)), In(d.f32(B, kv_heads, past, dv))]
    if reference == ONNX_REF and not note:
        note = MASKED_SCORE if attrs.get("qk_matmul_output_mode") == 2 else SHORT_MASK
    return op_case(f"attention_{case_id}", "Attention", args, attrs=attrs, outputs=outputs,
                   opset=23, feeds=feeds, reference=reference, note=note)


def bool_mask(*shape):
    m = d.bools(*shape)
    m[..., 0] = True  # every query attends at least one key
    return m


CASES = [
    attn("4d_basic"),
    attn("4d_value_head_size", dv=DV),
    attn("4d_gqa", q_heads=HQ, kv_heads=HKV),
    attn("4d_mqa", q_heads=HQ, kv_heads=1, dv=DV),
    attn("4d_single_query", s=1),
    attn("3d", three_d=True),
    attn("3d_gqa", q_heads=HQ, kv_heads=HKV, three_d=True),
    attn("3d_value_head_size", three_d=True, dv=DV),
    attn("4d_bool_mask_2d", mask=In(bool_mask(S, L))),
    attn("4d_bool_mask_4d", mask=In(bool_mask(B, 1, S, L))),
    attn("4d_float_mask_2d", mask=In(d.f32(S, L))),
    attn("4d_float_mask_4d", mask=In(d.f32(B, 2, S, L))),
    attn("4d_float_mask_3d", mask=In(d.f32(2, S, L))),
    attn("4d_float_mask_b11l", mask=In(d.f32(B, 1, 1, L)), reference=ONNX_REF, note=ROW_MASK),
    attn("4d_bool_mask_1l", mask=In(bool_mask(1, L)), reference=ONNX_REF, note=ROW_MASK),
    attn("3d_float_mask_4d", three_d=True, mask=In(d.f32(B, 2, S, L))),
    attn("4d_float_mask_neg_inf",
         mask=Const(np.where(bool_mask(S, L), 0.0, -np.inf).astype(np.float32))),
    attn("3d_bool_mask", three_d=True, mask=In(bool_mask(S, L))),
    attn("3d_gqa_float_mask", q_heads=HQ, kv_heads=HKV, three_d=True, mask=In(d.f32(S, L))),
    attn("4d_bool_mask_short", mask=In(bool_mask(S, L - 2)), reference=ONNX_REF),
    attn("4d_float_mask_short", mask=In(d.f32(S, L - 1)), reference=ONNX_REF),
    attn("4d_causal_square", kv=S, is_causal=1),
    attn("4d_causal_rect", is_causal=1),
    attn("4d_causal_more_queries", s=L + 2, is_causal=1),
    attn("3d_causal", three_d=True, kv=S, is_causal=1),
    attn("4d_causal_bool_mask", kv=S, is_causal=1, mask=In(bool_mask(S, S))),
    attn("4d_causal_float_mask", kv=S, is_causal=1, mask=In(d.f32(S, S))),
    attn("4d_scale", scale=0.3),
    attn("3d_gqa_scale", q_heads=HQ, kv_heads=HKV, three_d=True, scale=2.0),
    attn("4d_softcap", softcap=1.5),
    attn("4d_softcap_mask", softcap=2.0, mask=In(d.f32(S, L))),
    attn("4d_softmax_precision", softmax_precision=1),
    attn("4d_past", past=P, outputs=ALL[:3]),
    attn("4d_past_causal", past=P, kv=S, is_causal=1, outputs=ALL[:3]),
    attn("4d_past_bool_mask", past=P, mask=In(bool_mask(S, P + L)), outputs=ALL[:3]),
    attn("4d_past_gqa_float_mask", q_heads=HQ, kv_heads=HKV, past=P, mask=In(d.f32(S, P + L)),
         outputs=ALL),
    attn("4d_past_causal_float_mask_softcap", past=P, kv=S, is_causal=1, softcap=3.0,
         mask=In(d.f32(B, 1, S, P + S)), outputs=ALL[:3]),
    attn("3d_past", three_d=True, past=P, outputs=ALL[:3]),
    attn("3d_gqa_past_causal", three_d=True, q_heads=HQ, kv_heads=HKV, past=P, is_causal=1,
         kv=1, s=1, outputs=ALL[:3]),
]
for mode in (0, 1, 2, 3):
    # in mode 2 the output shows the bias of bool and causal masks (see MASKED_SCORE)
    ref = ONNX_REF if mode == 2 else ORT
    CASES += [
        attn(f"qk_mode{mode}", mask=In(d.f32(S, L)), qk_matmul_output_mode=mode,
             outputs=("Y", "", "", "qk")),
        attn(f"qk_mode{mode}_softcap", mask=In(d.f32(S, L)), qk_matmul_output_mode=mode,
             softcap=2.0, outputs=("Y", "", "", "qk")),
        attn(f"qk_mode{mode}_bool_mask_softcap", mask=In(bool_mask(S, L)), softcap=1.0,
             qk_matmul_output_mode=mode, outputs=("Y", "", "", "qk"), reference=ref),
        attn(f"qk_mode{mode}_causal_past_gqa", q_heads=HQ, kv_heads=HKV, past=P, is_causal=1,
             qk_matmul_output_mode=mode, outputs=ALL, reference=ref),
    ]

# rows where every key is masked give zeros (Y and the probabilities)
_blocked = bool_mask(S, L)
_blocked[1] = False
CASES += [
    attn("fully_masked_row_bool", mask=In(_blocked), qk_matmul_output_mode=3,
         outputs=("Y", "", "", "qk")),
    attn("fully_masked_row_float",
         mask=In(np.where(_blocked, 0.0, -np.inf).astype(np.float32)),
         outputs=("Y", "", "", "qk"), qk_matmul_output_mode=2),
]


def _batch_feeds(b, three_d):
    if three_d:
        return {"x0": d.f32(b, S, HQ * D), "x1": d.f32(b, L, HKV * D), "x2": d.f32(b, L, HKV * D)}
    return {"x0": d.f32(b, HQ, S, D), "x1": d.f32(b, HKV, L, D), "x2": d.f32(b, HKV, L, D)}


CASES += [
    attn("3d_gqa_batch", q_heads=HQ, kv_heads=HKV, three_d=True, batch_dims=True,
         feeds=[_batch_feeds(1, True), _batch_feeds(3, True)]),
    attn("4d_gqa_batch_mask", q_heads=HQ, kv_heads=HKV, batch_dims=True,
         mask=Const(bool_mask(S, L)),
         feeds=[_batch_feeds(1, False), _batch_feeds(3, False)]),
]


@pytest.mark.parametrize(("case", "stage"), case_params(CASES))
def test_attention(case, stage):
    check_case(case, stage)


def test_qk_mode2_differs_from_ort_only_at_masked_scores():
    """The cases above that compare mode 2 with onnx.reference: onnxruntime agrees with qlower
    except that it writes -FLT_MAX where a bool or causal mask puts -inf."""
    if ort_is_older_than_validated():
        pytest.skip(f"describes onnxruntime {VALIDATED_ORT}; this is {ort.__version__}")
    lowest = np.finfo(np.float32).min
    checked = 0
    for case in CASES:
        if case.reference != ONNX_REF or "qk_mode2" not in case.id:
            continue
        ort_case = dataclasses.replace(case, id=case.id + "@ort", reference=ORT)
        graph = imported_graph(case)
        for feeds, (want,) in zip(case.feeds, expected_outputs(ort_case)):
            got = run_graph(graph, dict(feeds))
            masked = want["qk"] == lowest
            assert masked.any()
            assert np.all(np.isneginf(got["qk"][masked]))
            got["qk"] = np.where(masked, lowest, got["qk"])
            for name in want:
                assert_close(name, got[name], want[name])
            checked += 1
    assert checked == 2
