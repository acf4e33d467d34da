"""Test configuration: deterministic Hypothesis runs (CI must not be flaky), and ``tests/`` on
``sys.path`` so that the tests in its subfolders import the shared helpers (``util``,
``onnx_cases``, ``fuzz_cli``) by their module names."""

import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

TESTS = str(Path(__file__).resolve().parent)
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

settings.register_profile(
    "qlower",
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile("qlower")
