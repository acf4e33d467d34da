"""Passes over the IR: a registry, pipelines parsed from text, and the canonical passes."""

from qlower.passes import (  # noqa: F401  (importing registers the passes)
    conv_to_linear,
    dce,
    fold_constants,
    fuse_linear,
    lower_linear,
    lower_quantum,
    match_activations,
    match_attention,
    match_losses,
    onnx_to_nn,
    partition,
    select_strategy,
    simplify,
    split_linear,
)
from qlower.passes.base import (
    AnalysisPass,
    Pass,
    PipelineError,
    TransformPass,
    make_pass,
    parse_pipeline,
    pipeline_text,
    register_pass,
    registered_passes,
)
from qlower.passes.manager import PassFailure, PassManager, describe_passes, run_pipeline
from qlower.passes.stages import CANONICAL, STAGES

__all__ = [
    "CANONICAL", "STAGES", "AnalysisPass", "Pass", "PassFailure", "PassManager", "PipelineError",
    "TransformPass", "describe_passes", "make_pass", "parse_pipeline", "pipeline_text",
    "register_pass", "registered_passes", "run_pipeline",
]
