"""Test configuration: deterministic Hypothesis runs (CI must not be flaky)."""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "qlower",
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile("qlower")
