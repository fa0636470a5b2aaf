"""
Hypothesis profiles.

`ci` (the default) keeps the property tests to a few seconds each and draws the same
examples on every run, so a failure reproduces; `long` explores far more examples with
fresh randomness. Select one with the environment variable:

    HYPOTHESIS_PROFILE=long .venv/bin/pytest tests/test_scheduler_properties.py
"""
import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "long",
    max_examples=3000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
